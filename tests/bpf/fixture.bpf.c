// SPDX-License-Identifier: GPL-2.0
/* Someone else's programs: the lifecycle test attaches these before the agent starts and
 * checks that the agent leaves them exactly as they were. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int fixture_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int fixture_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
