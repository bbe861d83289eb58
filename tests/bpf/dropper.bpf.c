// SPDX-License-Identifier: GPL-2.0
/* A lossy link for the trajectory test (tests/test-paths.sh): attached as a classic tc
 * filter (direct action) on an underlay's egress, it runs after the agent's tcx program and
 * drops every VXLAN packet whose inner UDP payload starts with a number divisible by 10
 * (udpsend -c numbers its datagrams): exactly a tenth, that the agent saw leave. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

/* Outer Ethernet, IPv4 (no options), UDP, VXLAN, inner Ethernet, IPv4, UDP. */
#define INNER_PAYLOAD (14 + 20 + 8 + 8 + 14 + 20 + 8)

SEC("tc")
int drop_tenth(struct __sk_buff *skb)
{
	struct udphdr uh;
	struct iphdr ip;
	__u64 n;

	if (skb->protocol != bpf_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(ip), &uh, sizeof(uh)) ||
	    uh.dest != bpf_htons(4789) || bpf_skb_load_bytes(skb, INNER_PAYLOAD, &n, sizeof(n)))
		return TC_ACT_OK;
	return n % 10 == 0 ? TC_ACT_SHOT : TC_ACT_OK;
}
