// SPDX-License-Identifier: GPL-2.0
/* bpfcost: what the pieces of a per-packet BPF program cost on this machine, so the benchmark
 * can say where sv_ingress's time goes. Tiny tc programs written as raw instructions (no
 * clang, no libbpf) run through BPF_PROG_TEST_RUN on a 60-byte frame, K calls each:
 *   empty   an empty program: the cost of one run itself
 *   ktime   one bpf_ktime_get_ns() (every packet takes a timestamp)
 *   lookup  one hash map lookup that hits, with the agent's flow key (sizeof sv_flow_key)
 *   stats   what kernel.bpf_stats_enabled adds to one run (two clock reads), measured by
 *           running the empty program with BPF_ENABLE_STATS held open
 *   prog    with -P PID: the agent's own sv_ingress, held by process PID, on a 60-byte
 *           UDP frame, maps and all (it then counts that frame on ifindex 1, loopback:
 *           use an agent that measures nothing else)
 *   prog_tcp  the same on a 66-byte TCP ACK with timestamps, the common segment of a
 *           connection, as the round-trip and retransmission tracking (issue 17) sees it
 *   data_above_empty  the median of single runs on a stream of TCP segments with 200 bytes
 *           of data and timestamps, each one's sequence number following on from the last
 *           (a bulk transfer's data side; repeating one segment would be a retransmission),
 *           minus the median of the empty program run the same way: single runs carry the
 *           test run's own clock reads, which that takes out (and the empty program's own
 *           cost with them, so it compares with prog_tcp - empty, not with prog_tcp)
 *   data_mid_above_empty  the same with the mean of the middle half of the runs for the
 *           median (finer than the clock's steps, which the median keeps)
 * Each is the best of several tries (the least disturbed by a noisy machine), in ns.
 * With -Q PID2, the same for PID2's sv_ingress as prog_b, prog_tcp_b, data_above_empty_b, the
 * tries of the two interleaved (A, B, A, B, ...) so both see the same moments of a shared
 * machine.
 * Prints one line: "empty=N ktime=N lookup=N stats=N keysize=N [prog=N prog_tcp=N
 * data_above_empty=N [prog_b=N prog_tcp_b=N data_above_empty_b=N] data_mid_above_empty=N
 * [data_mid_above_empty_b=N]]".
 *
 *   bpfcost [-P PID [-Q PID2]] */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include "sitevisor.h"

#define K 8 /* calls per program: the run's own cost is then spread over them */
#define REPEAT 200000
#define TRIES 10

static int sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	return (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off,
				  .imm = imm };
}

#define MOV_IMM(d, i) insn(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) insn(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, i) insn(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ST_DW(d, o, i) insn(BPF_ST | BPF_MEM | BPF_DW, d, 0, o, i)
#define CALL(f) insn(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int load(const struct bpf_insn *p, int n)
{
	static char log[65536];
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	a.insns = (uintptr_t)p;
	a.insn_cnt = n;
	a.license = (uintptr_t) "GPL";
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0)
		fprintf(stderr, "bpfcost: load: %s\n%s", strerror(errno), log);
	return fd;
}

/* Ethernet, IPv4 198.18.9.1 -> 198.18.9.2, UDP 40000 -> 9000, 18 bytes of payload. */
static unsigned char frame[60] = {
	0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
	0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 9, 1, 198, 18, 9, 2,
	40000 >> 8, 40000 & 0xff, 9000 >> 8, 9000 & 0xff, 0, 26, 0, 0,
};

/* Ethernet, IPv4 198.18.9.1 -> 198.18.9.2, TCP 40000 -> 9000, ACK, NOP NOP timestamps. */
static unsigned char tcp_frame[66] = {
	0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
	0x45, 0, 0, 52, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 9, 1, 198, 18, 9, 2,
	40000 >> 8, 40000 & 0xff, 9000 >> 8, 9000 & 0xff, 0, 0, 1, 0, 0, 0, 2, 0, 0x80, 0x10, 1, 0,
	0, 0, 0, 0, 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 5,
};

static unsigned char *run_frame = frame;
static unsigned int run_frame_len = sizeof(frame);

/* Best (lowest) average ns per run over TRIES test runs of REPEAT runs each, for each of
 * the n programs fd[], their tries interleaved. */
static int best_runs(const int *fd, double *best, int n)
{
	union bpf_attr a;
	int t, i;

	for (i = 0; i < n; i++)
		best[i] = -1;
	for (t = 0; t < TRIES; t++) {
		for (i = 0; i < n; i++) {
			memset(&a, 0, sizeof(a));
			a.test.prog_fd = fd[i];
			a.test.data_in = (uintptr_t)run_frame;
			a.test.data_size_in = run_frame_len;
			a.test.repeat = REPEAT;
			if (sys_bpf(BPF_PROG_TEST_RUN, &a)) {
				fprintf(stderr, "bpfcost: test run: %s\n", strerror(errno));
				return -1;
			}
			if (best[i] < 0 || a.test.duration < best[i])
				best[i] = a.test.duration;
		}
	}
	return 0;
}

static double best_run(int fd)
{
	double best;

	return best_runs(&fd, &best, 1) ? -1 : best;
}

#define STREAM 20000 /* single runs per program in the data stream */
#define PAYLOAD 200

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* One run of program fd on the segment seg with sequence number seq and TCP flags; the
 * run's ns in *ns. */
static int seg_run(int fd, unsigned char *seg, __u32 len, __u32 seq, __u8 flags, __u32 *ns)
{
	union bpf_attr a;

	seg[38] = seq >> 24;
	seg[39] = seq >> 16;
	seg[40] = seq >> 8;
	seg[41] = seq;
	seg[47] = flags;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = fd;
	a.test.data_in = (uintptr_t)seg;
	a.test.data_size_in = len;
	a.test.repeat = 1;
	if (sys_bpf(BPF_PROG_TEST_RUN, &a)) {
		fprintf(stderr, "bpfcost: test run: %s\n", strerror(errno));
		return -1;
	}
	*ns = a.test.duration;
	return 0;
}

/* The mean of the middle half of n sorted run times: single runs' times come in steps of
 * the clock's resolution (10 ns here), which a median keeps and this averages out. */
static double mid_mean(const __u32 *v, int n)
{
	double sum = 0;
	int i;

	for (i = n / 4; i < n - n / 4; i++)
		sum += v[i];
	return sum / (n - 2 * (n / 4));
}

/* Median ns (and in mid[] the mean of the middle half) of STREAM single runs of each of the
 * n programs fd[] on TCP segments of PAYLOAD bytes, interleaved. Each program's stream opens with a SYN of a new initial
 * sequence number (its conversation starts over, whatever an earlier bpfcost sent) and
 * each segment follows on from the one before, so none is a retransmission. */
static int stream_medians(const int *fd, double *med, double *mid, int n)
{
	static unsigned char seg[sizeof(tcp_frame) + PAYLOAD];
	static __u32 ns[3][STREAM];
	__u32 seq[3], syn_len = sizeof(tcp_frame), isn;
	struct timespec now;
	int i, k;

	clock_gettime(CLOCK_MONOTONIC, &now);
	isn = (__u32)(now.tv_sec * 1000000000ull + now.tv_nsec) * 2654435761u;

	if (n > 3)
		return -1;
	memcpy(seg, tcp_frame, sizeof(tcp_frame));
	for (i = 0; i < n; i++) {
		seq[i] = isn + 1;
		if (seg_run(fd[i], seg, syn_len, isn, 0x02, &ns[i][0]))
			return -1;
	}
	seg[16] = (20 + 32 + PAYLOAD) >> 8; /* IP total length */
	seg[17] = (20 + 32 + PAYLOAD) & 0xff;
	for (k = 0; k < STREAM; k++) {
		for (i = 0; i < n; i++) {
			if (seg_run(fd[i], seg, sizeof(seg), seq[i], 0x18 /* PSH, ACK */, &ns[i][k]))
				return -1;
			seq[i] += PAYLOAD;
		}
	}
	for (i = 0; i < n; i++) {
		qsort(ns[i], STREAM, sizeof(ns[i][0]), cmp_u32);
		med[i] = ns[i][STREAM / 2];
		mid[i] = mid_mean(ns[i], STREAM);
	}
	return 0;
}

/* The BPF program called NAME among those process PID holds, as a new fd; -1 if none. */
static int prog_of(int pid, const char *name)
{
	char path[64], line[128];
	struct dirent *d;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", pid);
	dir = opendir(path);
	while (dir && fd < 0 && (d = readdir(dir))) {
		struct bpf_prog_info info;
		union bpf_attr a;
		FILE *f;
		unsigned int id = 0;

		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%.20s", pid, d->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "prog_id: %u", &id);
		if (f)
			fclose(f);
		if (!id)
			continue;
		memset(&a, 0, sizeof(a));
		a.prog_id = id;
		fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		memset(&a, 0, sizeof(a));
		a.info.bpf_fd = fd;
		a.info.info_len = sizeof(info);
		a.info.info = (uintptr_t)&info;
		if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) || strcmp(info.name, name)) {
			close(fd);
			fd = -1;
		}
	}
	if (dir)
		closedir(dir);
	return fd;
}

int main(int argc, char **argv)
{
	struct bpf_insn p[8 + K * 4];
	struct sv_flow_key key;
	static char val[sizeof(struct sv_flow_val)];
	union bpf_attr a;
	double empty, ktime, lookup, stats;
	int n, i, fd_empty, fd_ktime, fd_lookup, map, sfd, fd_prog[3], nprog = 0;
	double prog[2], prog_tcp[2], data[3], data_mid[3];

	if ((argc != 1 && argc != 3 && argc != 5) || (argc > 1 && strcmp(argv[1], "-P")) ||
	    (argc > 3 && strcmp(argv[3], "-Q"))) {
		fprintf(stderr, "usage: bpfcost [-P PID [-Q PID2]]\n");
		return 2;
	}
	for (i = 2; i < argc; i += 2) {
		fd_prog[nprog] = prog_of(atoi(argv[i]), "sv_ingress");
		if (fd_prog[nprog++] < 0) {
			fprintf(stderr, "bpfcost: process %s holds no sv_ingress program\n", argv[i]);
			return 1;
		}
	}

	/* empty: r0 = 0; exit */
	n = 0;
	p[n++] = MOV_IMM(BPF_REG_0, 0);
	p[n++] = EXIT();
	fd_empty = load(p, n);

	/* ktime: K x call bpf_ktime_get_ns */
	n = 0;
	for (i = 0; i < K; i++)
		p[n++] = CALL(BPF_FUNC_ktime_get_ns);
	p[n++] = MOV_IMM(BPF_REG_0, 0);
	p[n++] = EXIT();
	fd_ktime = load(p, n);

	/* lookup: a hash map shaped like the agent's, holding the all-zero key; the program
	 * zeroes a key on its stack and looks it up K times. */
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = sizeof(key);
	a.value_size = sizeof(val);
	a.max_entries = 65536;
	map = sys_bpf(BPF_MAP_CREATE, &a);
	if (map < 0) {
		fprintf(stderr, "bpfcost: map: %s\n", strerror(errno));
		return 1;
	}
	memset(&key, 0, sizeof(key));
	memset(&a, 0, sizeof(a));
	a.map_fd = map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)val;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a)) {
		fprintf(stderr, "bpfcost: map update: %s\n", strerror(errno));
		return 1;
	}
	{
		/* the key's stack slot, rounded up to whole 8-byte words */
		int words = (sizeof(key) + 7) / 8, off = -8 * words;
		struct bpf_insn q[(sizeof(key) + 7) / 8 + K * 5 + 2];

		n = 0;
		for (i = 0; i < words; i++)
			q[n++] = ST_DW(BPF_REG_10, off + 8 * i, 0);
		for (i = 0; i < K; i++) {
			/* r1 = map (ld_imm64 with a map fd), r2 = fp + off, call lookup */
			q[n++] = insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map);
			q[n++] = insn(0, 0, 0, 0, 0);
			q[n++] = MOV_REG(BPF_REG_2, BPF_REG_10);
			q[n++] = ADD_IMM(BPF_REG_2, off);
			q[n++] = CALL(BPF_FUNC_map_lookup_elem);
		}
		q[n++] = MOV_IMM(BPF_REG_0, 0);
		q[n++] = EXIT();
		fd_lookup = load(q, n);
	}
	if (fd_empty < 0 || fd_ktime < 0 || fd_lookup < 0)
		return 1;

	empty = best_run(fd_empty);
	ktime = best_run(fd_ktime);
	lookup = best_run(fd_lookup);
	if (nprog) {
		if (best_runs(fd_prog, prog, nprog))
			return 1;
		run_frame = tcp_frame;
		run_frame_len = sizeof(tcp_frame);
		if (best_runs(fd_prog, prog_tcp, nprog))
			return 1;
		run_frame = frame;
		run_frame_len = sizeof(frame);
		fd_prog[nprog] = fd_empty; /* the floor of single runs, last in data[] */
		if (stream_medians(fd_prog, data, data_mid, nprog + 1))
			return 1;
	}
	memset(&a, 0, sizeof(a));
	a.enable_stats.type = BPF_STATS_RUN_TIME;
	sfd = sys_bpf(BPF_ENABLE_STATS, &a);
	stats = sfd < 0 ? -1 : best_run(fd_empty);
	if (sfd >= 0)
		close(sfd); /* stats off again (unless someone else holds them on) */
	if (empty < 0 || ktime < 0 || lookup < 0)
		return 1;
	printf("empty=%.1f ktime=%.1f lookup=%.1f stats=", empty, (ktime - empty) / K,
	       (lookup - empty) / K);
	if (stats < 0)
		printf("n/a");
	else
		printf("%.1f", stats - empty);
	printf(" keysize=%zu", sizeof(key));
	for (i = 0; i < nprog; i++)
		printf(" prog%s=%.1f prog_tcp%s=%.1f data_above_empty%s=%.1f", i ? "_b" : "", prog[i],
		       i ? "_b" : "", prog_tcp[i], i ? "_b" : "", data[i] - data[nprog]);
	for (i = 0; i < nprog; i++)
		printf(" data_mid_above_empty%s=%.1f", i ? "_b" : "", data_mid[i] - data_mid[nprog]);
	printf("\n");
	return 0;
}
