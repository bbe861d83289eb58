// SPDX-License-Identifier: GPL-2.0
/* Classic BPF to eBPF, at run time: a libpcap filter becomes a tc program, so frames that do
 * not match never leave the kernel.
 *
 * The mapping follows the kernel's own converter (net/core/filter.c, bpf_convert_filter):
 * A and X live in two callee-saved registers, M[16] in stack slots, every classic jump is
 * re-aimed at the first eBPF instruction of its target (one classic instruction becomes
 * several). Two things differ, for tc:
 * - Packet loads use bpf_skb_load_bytes, not the legacy LD_ABS/LD_IND: those end the program
 *   with return value 0 on a load past the end, and 0 is TC_ACT_OK (tcx: "pass and stop"),
 *   which would skip the programs behind ours. Here a failed load jumps to our own reject.
 * - The filter must see the frame as on the wire. On ingress the kernel moves the outer
 *   802.1Q/802.1ad tag into skb->vlan_tci before tc runs; when __sk_buff.vlan_present is
 *   set, loads go through a subprogram that serves bytes 12..15 from the tag (TPID from
 *   vlan_proto, TCI from vlan_tci) and bytes from 16 on at offset - 4. The program reads
 *   the flag once; untagged frames never take that path.
 * Accepted frames: caplen = min(filter's return value, snaplen, skb->len) bytes of the skb
 * go out with struct sv_cap_meta through bpf_perf_event_output (the kernel copies them
 * straight from the skb, fragments too). Counters: enum sv_cap_counter, per CPU. */
#include "cbpf.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "sitevisor.h"

/* Classic BPF encoding (linux/filter.h, pcap/bpf.h). */
#define C_CLASS(c) ((c) & 0x07)
#define C_LD 0x00
#define C_LDX 0x01
#define C_ST 0x02
#define C_STX 0x03
#define C_ALU 0x04
#define C_JMP 0x05
#define C_RET 0x06
#define C_MISC 0x07
#define C_SIZE(c) ((c) & 0x18)
#define C_W 0x00
#define C_H 0x08
#define C_B 0x10
#define C_MODE(c) ((c) & 0xe0)
#define C_IMM 0x00
#define C_ABS 0x20
#define C_IND 0x40
#define C_MEM 0x60
#define C_LEN 0x80
#define C_MSH 0xa0
#define C_OP(c) ((c) & 0xf0)
#define C_SRC(c) ((c) & 0x08)
#define C_X 0x08
#define C_RVAL(c) ((c) & 0x18)
#define C_RA 0x10
#define C_TXA 0x80
#define C_MEMWORDS 16

/* eBPF registers and stack layout. */
#define R_A BPF_REG_7
#define R_X BPF_REG_8
#define R_CTX BPF_REG_6
#define R_VLAN BPF_REG_9 /* __sk_buff.vlan_present, read once */
#define FP BPF_REG_10
#define OFF_M(i) (-8 * ((int)(i) + 1)) /* M[0..15]: -8 .. -128 */
#define OFF_SCRATCH (-136) /* bytes from bpf_skb_load_bytes */
#define OFF_META (-168) /* struct sv_cap_meta, 32 bytes */
#define META(f) ((short)(OFF_META + (int)offsetof(struct sv_cap_meta, f)))
#define OFF_KEY (-172) /* counter index for the map lookup */

#define TC_ACT_UNSPEC (-1)
#define SKB(f) ((short)offsetof(struct __sk_buff, f))

enum label {
	L_INSN, /* a classic instruction's first eBPF instruction */
	L_REJECT,
	L_ACCEPT, /* caplen candidate in R_A */
	L_VLAN_LOAD, /* the subprogram (a bpf-to-bpf call, not a jump) */
	L_MAX,
};

struct fixup {
	size_t at;
	enum label kind;
	size_t target; /* classic index, for L_INSN */
};

struct emitter {
	struct bpf_insn *insn;
	size_t n, cap;
	struct fixup *fix;
	size_t n_fix, cap_fix;
	size_t *start; /* eBPF index of each classic instruction */
	size_t label[L_MAX];
	int used[L_MAX];
	int overflow;
	int dir; /* 0: ingress program, 1: egress */
	char *err;
	size_t errlen;
};

static void set_err(struct emitter *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, e->errlen, fmt, ap);
	va_end(ap);
}

/* Room is sized up front (see sv_cbpf_translate); running out is a bug, reported, not a
 * write past the end. */
static void emit(struct emitter *e, __u8 code, __u8 dst, __u8 src, __s16 off, __s32 imm)
{
	if (e->n == e->cap) {
		e->overflow = 1;
		return;
	}
	e->insn[e->n++] = (struct bpf_insn){
		.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm
	};
}

/* A jump (or call) whose offset is set once every target's place is known. */
static void emit_to(struct emitter *e, __u8 code, __u8 dst, __u8 src, __s32 imm,
		    enum label kind, size_t target)
{
	if (e->n_fix == e->cap_fix) {
		e->overflow = 1;
		return;
	}
	e->fix[e->n_fix++] = (struct fixup){ .at = e->n, .kind = kind, .target = target };
	e->used[kind] = 1;
	emit(e, code, dst, src, 0, imm);
}

static void emit_map_fd(struct emitter *e, __u8 dst, int fd)
{
	emit(e, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
	emit(e, 0, 0, 0, 0, 0);
}

static void emit_call(struct emitter *e, int helper)
{
	emit(e, BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}

/* counters[idx]++ on this CPU (no atomics: per-CPU, and tc runs with migration off). */
static void emit_count(struct emitter *e, int map_fd, int idx)
{
	emit(e, BPF_ST | BPF_MEM | BPF_W, FP, 0, OFF_KEY, idx);
	emit_map_fd(e, BPF_REG_1, map_fd);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, FP, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, OFF_KEY);
	emit_call(e, BPF_FUNC_map_lookup_elem);
	emit(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 3, 0);
	emit(e, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_0, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, 1);
	emit(e, BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0);
}

static void emit_return_unspec(struct emitter *e)
{
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TC_ACT_UNSPEC);
	emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* dst = the frame's big-endian value of size bytes at the wire offset in R2 (a 32-bit
 * value); a load past the end rejects the frame, as in classic BPF. */
static void emit_load(struct emitter *e, __u8 dst, int size)
{
	static const __u8 ldx_size[5] = { [1] = BPF_B, [2] = BPF_H, [4] = BPF_W };
	size_t slow;

	emit(e, BPF_JMP | BPF_JNE | BPF_K, R_VLAN, 0, 0, 0); /* to slow, set below */
	slow = e->n - 1;
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, R_CTX, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, FP, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, OFF_SCRATCH);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, size);
	emit_call(e, BPF_FUNC_skb_load_bytes);
	emit_to(e, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, L_REJECT, 0);
	emit(e, BPF_LDX | BPF_MEM | ldx_size[size], dst, FP, OFF_SCRATCH, 0);
	if (size > 1)
		emit(e, BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, size * 8);
	emit(e, BPF_JA | BPF_JMP, 0, 0, 5, 0); /* over the slow path's 5 instructions */
	e->insn[slow].off = e->n - slow - 1;
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, R_CTX, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, size);
	emit_to(e, BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, L_VLAN_LOAD, 0);
	emit_to(e, BPF_JMP | BPF_JSLT | BPF_K, BPF_REG_0, 0, 0, L_REJECT, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, dst, BPF_REG_0, 0, 0);
}

/* dst = the frame's length on the wire: skb->len, plus 4 for a tag the kernel took out. */
static void emit_len(struct emitter *e, __u8 dst)
{
	emit(e, BPF_LDX | BPF_MEM | BPF_W, dst, R_CTX, SKB(len), 0);
	emit(e, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, R_VLAN, 0, 0);
	emit(e, BPF_ALU | BPF_LSH | BPF_K, BPF_REG_1, 0, 0, 2);
	emit(e, BPF_ALU | BPF_ADD | BPF_X, dst, BPF_REG_1, 0, 0);
}

/* Linux's ancillary loads (k = SKF_AD_OFF + n) that libpcap emits for keywords about the
 * skb rather than the frame: inbound/outbound (pkt_type) and ifindex. */
#define SKF_AD_OFF (-0x1000)
#define SKF_AD_PROTOCOL 0
#define SKF_AD_PKTTYPE 4
#define SKF_AD_IFINDEX 8
#define PACKET_OUTGOING 4

static int conv_ancillary(struct emitter *e, const struct sv_cinsn *c, __u8 dst)
{
	switch ((__s32)c->k - SKF_AD_OFF) {
	case SKF_AD_PKTTYPE:
		/* tc egress sees the sender's pkt_type (PACKET_HOST); only the copy a packet tap
		 * gets is marked outgoing. Our egress program knows its direction. */
		if (e->dir)
			emit(e, BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, PACKET_OUTGOING);
		else
			emit(e, BPF_LDX | BPF_MEM | BPF_W, dst, R_CTX, SKB(pkt_type), 0);
		return 0;
	case SKF_AD_IFINDEX:
		emit(e, BPF_LDX | BPF_MEM | BPF_W, dst, R_CTX, SKB(ifindex), 0);
		return 0;
	case SKF_AD_PROTOCOL: /* the ethertype in host order, as classic BPF has it */
		emit(e, BPF_LDX | BPF_MEM | BPF_W, dst, R_CTX, SKB(protocol), 0);
		emit(e, BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16);
		return 0;
	}
	set_err(e, "unsupported Linux ancillary load %d", (__s32)c->k - SKF_AD_OFF);
	return -EINVAL;
}

static int size_of(__u16 code)
{
	return C_SIZE(code) == C_W ? 4 : C_SIZE(code) == C_H ? 2 : C_SIZE(code) == C_B ? 1 : 0;
}

static int conv_ld(struct emitter *e, const struct sv_cinsn *c, __u8 dst)
{
	int size = size_of(c->code);

	switch (C_MODE(c->code)) {
	case C_IMM:
		emit(e, BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, c->k);
		return 0;
	case C_MEM:
		if (c->k >= C_MEMWORDS)
			break;
		emit(e, BPF_LDX | BPF_MEM | BPF_W, dst, FP, OFF_M(c->k), 0);
		return 0;
	case C_LEN:
		emit_len(e, dst);
		return 0;
	case C_ABS:
	case C_IND:
	case C_MSH:
		if (!size)
			break;
		if (C_MODE(c->code) == C_ABS && (__s32)c->k >= SKF_AD_OFF && (__s32)c->k < 0)
			return conv_ancillary(e, c, dst);
		if (C_MODE(c->code) == C_ABS && (__s32)c->k < 0)
			break; /* SKF_NET_OFF, SKF_LL_OFF: never emitted for Ethernet */
		if (C_MODE(c->code) == C_IND) {
			emit(e, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_2, R_X, 0, 0);
			emit(e, BPF_ALU | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, c->k);
		} else {
			emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, c->k);
		}
		emit_load(e, dst, size);
		if (C_MODE(c->code) == C_MSH) { /* X = 4 * (P[k] & 0xf): IPv4 header length */
			emit(e, BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, 0xf);
			emit(e, BPF_ALU | BPF_LSH | BPF_K, dst, 0, 0, 2);
		}
		return 0;
	}
	set_err(e, "unsupported classic BPF load 0x%04x k=%u", c->code, c->k);
	return -EINVAL;
}

static int conv_alu(struct emitter *e, const struct sv_cinsn *c)
{
	__u8 op = C_OP(c->code);

	if (op == BPF_NEG) {
		emit(e, BPF_ALU | BPF_NEG, R_A, 0, 0, 0);
		return 0;
	}
	if (op != BPF_ADD && op != BPF_SUB && op != BPF_MUL && op != BPF_DIV && op != BPF_OR &&
	    op != BPF_AND && op != BPF_LSH && op != BPF_RSH && op != BPF_MOD && op != BPF_XOR) {
		set_err(e, "unsupported classic BPF ALU op 0x%04x", c->code);
		return -EINVAL;
	}
	if (C_SRC(c->code) == C_X) {
		/* Classic BPF rejects the frame on a division by zero (eBPF would give 0). */
		if (op == BPF_DIV || op == BPF_MOD)
			emit_to(e, BPF_JMP32 | BPF_JEQ | BPF_K, R_X, 0, 0, L_REJECT, 0);
		/* libpcap's interpreter: a shift by 32 or more gives 0. */
		if (op == BPF_LSH || op == BPF_RSH) {
			emit(e, BPF_JMP32 | BPF_JLT | BPF_K, R_X, 0, 2, 32);
			emit(e, BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, 0);
			emit(e, BPF_JMP | BPF_JA, 0, 0, 1, 0);
		}
		emit(e, BPF_ALU | op | BPF_X, R_A, R_X, 0, 0);
		return 0;
	}
	if ((op == BPF_DIV || op == BPF_MOD) && c->k == 0) {
		set_err(e, "classic BPF division by constant zero");
		return -EINVAL;
	}
	if ((op == BPF_LSH || op == BPF_RSH) && c->k >= 32)
		emit(e, BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, 0);
	else
		emit(e, BPF_ALU | op | BPF_K, R_A, 0, 0, c->k);
	return 0;
}

static int conv_jmp(struct emitter *e, const struct sv_cinsn *c, size_t pc, size_t n)
{
	__u8 op = C_OP(c->code);
	size_t t = pc + 1 + c->jt, f = pc + 1 + c->jf;

	if (op == BPF_JA) {
		if (c->k >= n - pc - 1)
			goto range;
		emit_to(e, BPF_JMP | BPF_JA, 0, 0, 0, L_INSN, pc + 1 + c->k);
		return 0;
	}
	if (op != BPF_JEQ && op != BPF_JGT && op != BPF_JGE && op != BPF_JSET) {
		set_err(e, "unsupported classic BPF jump 0x%04x", c->code);
		return -EINVAL;
	}
	if (t >= n || f >= n)
		goto range;
	/* 32-bit compares: classic BPF values are u32, and a 64-bit compare would sign-extend
	 * an immediate such as 0xffffffff. */
	if (C_SRC(c->code) == C_X)
		emit_to(e, BPF_JMP32 | op | BPF_X, R_A, R_X, 0, L_INSN, t);
	else
		emit_to(e, BPF_JMP32 | op | BPF_K, R_A, 0, c->k, L_INSN, t);
	if (c->jf)
		emit_to(e, BPF_JMP | BPF_JA, 0, 0, 0, L_INSN, f);
	return 0;
range:
	set_err(e, "classic BPF jump at %zu leaves the program", pc);
	return -EINVAL;
}

static int conv_ret(struct emitter *e, const struct sv_cinsn *c)
{
	switch (C_RVAL(c->code)) {
	case BPF_K:
		if (!c->k) {
			emit_to(e, BPF_JMP | BPF_JA, 0, 0, 0, L_REJECT, 0);
			return 0;
		}
		emit(e, BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, c->k);
		break;
	case C_RA:
		emit_to(e, BPF_JMP32 | BPF_JEQ | BPF_K, R_A, 0, 0, L_REJECT, 0);
		break;
	default:
		set_err(e, "unsupported classic BPF return 0x%04x", c->code);
		return -EINVAL;
	}
	emit_to(e, BPF_JMP | BPF_JA, 0, 0, 0, L_ACCEPT, 0);
	return 0;
}

static int conv_one(struct emitter *e, const struct sv_cinsn *c, size_t pc, size_t n)
{
	switch (C_CLASS(c->code)) {
	case C_LD:
		return conv_ld(e, c, R_A);
	case C_LDX:
		/* LDX knows only W IMM/MEM/LEN and B MSH. */
		if (C_MODE(c->code) == C_MSH ? C_SIZE(c->code) != C_B :
					       (C_SIZE(c->code) != C_W ||
						(C_MODE(c->code) != C_IMM && C_MODE(c->code) != C_MEM &&
						 C_MODE(c->code) != C_LEN)))
			break;
		return conv_ld(e, c, R_X);
	case C_ST:
	case C_STX:
		if (c->k >= C_MEMWORDS)
			break;
		emit(e, BPF_STX | BPF_MEM | BPF_W, FP, C_CLASS(c->code) == C_ST ? R_A : R_X,
		     OFF_M(c->k), 0);
		return 0;
	case C_ALU:
		return conv_alu(e, c);
	case C_JMP:
		return conv_jmp(e, c, pc, n);
	case C_RET:
		return conv_ret(e, c);
	case C_MISC:
		if (C_OP(c->code) == C_TXA)
			emit(e, BPF_ALU | BPF_MOV | BPF_X, R_A, R_X, 0, 0);
		else
			emit(e, BPF_ALU | BPF_MOV | BPF_X, R_X, R_A, 0, 0);
		return 0;
	}
	set_err(e, "unsupported classic BPF instruction 0x%04x", c->code);
	return -EINVAL;
}

/* The eBPF verifier refuses unreachable code, which classic BPF allows: find what runs. */
static int mark_reachable(const struct sv_cinsn *prog, size_t n, char *reach)
{
	size_t pc;

	reach[0] = 1;
	for (pc = 0; pc < n; pc++) {
		const struct sv_cinsn *c = &prog[pc];

		if (!reach[pc])
			continue;
		if (C_CLASS(c->code) == C_RET)
			continue;
		if (C_CLASS(c->code) != C_JMP) {
			if (pc + 1 < n)
				reach[pc + 1] = 1;
			continue;
		}
		if (C_OP(c->code) == BPF_JA) {
			if (c->k < n - pc - 1)
				reach[pc + 1 + c->k] = 1;
			continue;
		}
		if (pc + 1 + c->jt < n)
			reach[pc + 1 + c->jt] = 1;
		if (pc + 1 + c->jf < n)
			reach[pc + 1 + c->jf] = 1;
	}
	/* Falling off the end is no return value: classic BPF checkers refuse it too. */
	if (reach[n - 1] && C_CLASS(prog[n - 1].code) != C_RET)
		return -EINVAL;
	return 0;
}

/* Zeroes the memory words the program reads (classic BPF starts them at 0, the eBPF
 * verifier refuses reads of unwritten stack). */
static void emit_prologue(struct emitter *e, const struct sv_cinsn *prog, size_t n)
{
	int read[C_MEMWORDS] = { 0 };
	size_t pc;
	int i;

	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, R_CTX, BPF_REG_1, 0, 0);
	emit(e, BPF_LDX | BPF_MEM | BPF_W, R_VLAN, R_CTX, SKB(vlan_present), 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, R_A, 0, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, R_X, 0, 0, 0);
	for (pc = 0; pc < n; pc++)
		if ((C_CLASS(prog[pc].code) == C_LD || C_CLASS(prog[pc].code) == C_LDX) &&
		    C_MODE(prog[pc].code) == C_MEM && prog[pc].k < C_MEMWORDS)
			read[prog[pc].k] = 1;
	for (i = 0; i < C_MEMWORDS; i++)
		if (read[i])
			emit(e, BPF_ST | BPF_MEM | BPF_DW, FP, 0, OFF_M(i), 0);
}

static void emit_reject(struct emitter *e, const struct sv_cbpf_opts *o)
{
	e->label[L_REJECT] = e->n;
	if (o->mark_id && o->cls) {
		emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0); /* no copy */
		emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		return;
	}
	if (!o->mark_id)
		emit_count(e, o->cnt_map_fd, SV_CAP_FILTERED);
	emit_return_unspec(e);
}

/* Classifier mode: the rule's id, direction and "accepted" into cb[4], then the tap's
 * classifier by tail call; 0 (no copy) if that slot is empty. */
static void emit_cls_accept(struct emitter *e, const struct sv_cbpf_opts *o)
{
	e->label[L_ACCEPT] = e->n;
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_2, 0, 0,
	     o->mark_id | o->dir << SV_TAP_CLS_DIR_SHIFT | SV_TAP_CLS_EXPR);
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_2, SKB(cb[4]), 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, R_CTX, 0, 0);
	emit_map_fd(e, BPF_REG_2, o->cls_jmp_fd);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 0);
	emit_call(e, BPF_FUNC_tail_call);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* Mark mode: sets bit mark_id in cb[0..1], first clearing the bitmap if the magic in
 * cb[2..3] is not there yet (this is the first expression program the frame meets). */
static void emit_mark(struct emitter *e, int id)
{
	short word = id < 32 ? SKB(cb[0]) : SKB(cb[1]);

	e->label[L_ACCEPT] = e->n;
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, R_CTX, SKB(cb[2]), 0);
	emit(e, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, 2, SV_TAP_CB_MAGIC_LO);
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, R_CTX, SKB(cb[3]), 0);
	emit(e, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 7, SV_TAP_CB_MAGIC_HI);
	/* The verifier takes no immediate stores into the context: through a register. */
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0);
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_1, SKB(cb[0]), 0);
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_1, SKB(cb[1]), 0);
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, SV_TAP_CB_MAGIC_LO);
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_1, SKB(cb[2]), 0);
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, SV_TAP_CB_MAGIC_HI);
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_1, SKB(cb[3]), 0);
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, R_CTX, word, 0);
	emit(e, BPF_ALU | BPF_OR | BPF_K, BPF_REG_1, 0, 0, 1u << (id % 32));
	emit(e, BPF_STX | BPF_MEM | BPF_W, R_CTX, BPF_REG_1, word, 0);
	emit_return_unspec(e);
}

/* A __sk_buff field (read as the u32 it is) into struct sv_cap_meta on the stack. */
static void emit_ctx_to_meta(struct emitter *e, short ctx_off, __u8 size, short meta_off)
{
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, R_CTX, ctx_off, 0);
	emit(e, BPF_STX | BPF_MEM | size, FP, BPF_REG_1, meta_off, 0);
}

/* R_A: the filter's return value (non-zero). Builds struct sv_cap_meta on the stack and
 * sends it with caplen bytes of the skb. */
static void emit_accept(struct emitter *e, const struct sv_cbpf_opts *o)
{
	size_t sent;

	e->label[L_ACCEPT] = e->n;
	emit(e, BPF_JMP32 | BPF_JLE | BPF_K, R_A, 0, 1, o->snaplen);
	emit(e, BPF_ALU | BPF_MOV | BPF_K, R_A, 0, 0, o->snaplen);
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, R_CTX, SKB(len), 0);
	emit(e, BPF_JMP32 | BPF_JLE | BPF_X, R_A, BPF_REG_1, 1, 0);
	emit(e, BPF_ALU | BPF_MOV | BPF_X, R_A, BPF_REG_1, 0, 0);

	emit_call(e, BPF_FUNC_ktime_get_ns);
	emit(e, BPF_STX | BPF_MEM | BPF_DW, FP, BPF_REG_0, OFF_META, 0);
	emit_ctx_to_meta(e, SKB(ifindex), BPF_W, META(ifindex));
	emit_ctx_to_meta(e, SKB(len), BPF_W, META(len));
	emit(e, BPF_STX | BPF_MEM | BPF_W, FP, R_A, META(caplen), 0);
	emit_ctx_to_meta(e, SKB(vlan_tci), BPF_H, META(vlan_tci));
	emit_ctx_to_meta(e, SKB(vlan_proto), BPF_H, META(vlan_proto));
	emit(e, BPF_STX | BPF_MEM | BPF_B, FP, R_VLAN,
	     META(vlan_present), 0);
	emit(e, BPF_ST | BPF_MEM | BPF_B, FP, 0, META(dir),
	     o->dir);
	emit(e, BPF_ST | BPF_MEM | BPF_H, FP, 0, META(pad0), 0);
	emit(e, BPF_ST | BPF_MEM | BPF_W, FP, 0, META(pad0) + 2,
	     0);

	/* flags: BPF_F_CURRENT_CPU, and caplen in the upper half: bytes of the skb to append */
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, R_A, 0, 0);
	emit(e, BPF_ALU64 | BPF_LSH | BPF_K, BPF_REG_3, 0, 0, 32);
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, -1); /* 0x00000000ffffffff */
	emit(e, BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_3, BPF_REG_1, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, R_CTX, 0, 0);
	emit_map_fd(e, BPF_REG_2, o->perf_map_fd);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_4, FP, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_4, 0, 0, OFF_META);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_5, 0, 0, sizeof(struct sv_cap_meta));
	emit_call(e, BPF_FUNC_perf_event_output);
	emit(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, 0); /* to the count of sent */
	sent = e->n - 1;
	emit_count(e, o->cnt_map_fd, SV_CAP_LOST);
	emit_return_unspec(e);
	e->insn[sent].off = e->n - sent - 1;
	emit_count(e, o->cnt_map_fd, SV_CAP_SENT);
	emit_return_unspec(e);
}

/* Jumps inside the VLAN subprogram to one of its two exits, patched when that is placed. */
struct exits {
	size_t at[16];
	int n;
};

static void jump_to_exit(struct emitter *e, struct exits *x, __u8 code, __u8 reg, __s32 imm)
{
	emit(e, code, reg, 0, 0, imm);
	if (x->n < 16)
		x->at[x->n++] = e->n - 1;
	else
		e->overflow = 1;
}

static void place_exit(struct emitter *e, const struct exits *x)
{
	int i;

	for (i = 0; i < x->n; i++)
		e->insn[x->at[i]].off = e->n - x->at[i] - 1;
}

/* R2 = offset in the skb: one bpf_skb_load_bytes of size bytes into fp-8, R0 = the
 * big-endian value; returns from the subprogram. */
static void emit_vlan_whole(struct emitter *e, struct exits *fail, int size)
{
	static const __u8 ldx_size[5] = { [1] = BPF_B, [2] = BPF_H, [4] = BPF_W };

	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, FP, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, -8);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, size);
	emit_call(e, BPF_FUNC_skb_load_bytes);
	jump_to_exit(e, fail, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0);
	emit(e, BPF_LDX | BPF_MEM | ldx_size[size], BPF_REG_0, FP, -8, 0);
	if (size > 1)
		emit(e, BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_0, 0, 0, size * 8);
	emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* Byte i of a load that starts below 16: R9 = R9 << 8 | wire byte (R7 + i). */
static void emit_vlan_byte(struct emitter *e, struct exits *fail, int i)
{
	size_t to_pkt, to_tag, to_acc;

	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_7, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, i);
	emit(e, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_2, 0, 0, 12);
	to_pkt = e->n - 1;
	emit(e, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_2, 0, 0, 16);
	to_tag = e->n - 1;
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4);
	e->insn[to_pkt].off = e->n - to_pkt - 1;
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, FP, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, -8);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 1);
	emit_call(e, BPF_FUNC_skb_load_bytes);
	jump_to_exit(e, fail, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0);
	emit(e, BPF_LDX | BPF_MEM | BPF_B, BPF_REG_0, FP, -8, 0);
	emit(e, BPF_JMP | BPF_JA, 0, 0, 0, 0);
	to_acc = e->n - 1;
	e->insn[to_tag].off = e->n - to_tag - 1;
	/* tag = TPID << 16 | TCI; its byte (o - 12), big-endian */
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_0, BPF_REG_6, SKB(vlan_proto), 0);
	emit(e, BPF_ALU | BPF_END | BPF_TO_BE, BPF_REG_0, 0, 0, 16);
	emit(e, BPF_ALU | BPF_LSH | BPF_K, BPF_REG_0, 0, 0, 16);
	emit(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_1, BPF_REG_6, SKB(vlan_tci), 0);
	emit(e, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, 0xffff);
	emit(e, BPF_ALU | BPF_OR | BPF_X, BPF_REG_0, BPF_REG_1, 0, 0);
	emit(e, BPF_ALU | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 15);
	emit(e, BPF_ALU | BPF_SUB | BPF_X, BPF_REG_1, BPF_REG_2, 0, 0);
	emit(e, BPF_ALU | BPF_LSH | BPF_K, BPF_REG_1, 0, 0, 3);
	emit(e, BPF_ALU | BPF_RSH | BPF_X, BPF_REG_0, BPF_REG_1, 0, 0);
	emit(e, BPF_ALU | BPF_AND | BPF_K, BPF_REG_0, 0, 0, 0xff);
	e->insn[to_acc].off = e->n - to_acc - 1;
	emit(e, BPF_ALU64 | BPF_LSH | BPF_K, BPF_REG_9, 0, 0, 8);
	emit(e, BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_9, BPF_REG_0, 0, 0);
}

/* The subprogram for frames whose outer tag the kernel took out: R1 ctx, R2 wire offset
 * (u32), R3 size (1, 2 or 4). Returns the big-endian value, or -1 past the end. The wire
 * frame is skb[0..12) + tag[0..4) + skb[12..): a load from 16 on is one load 4 bytes
 * earlier; one below 16 (the MACs and the tag: ethertype checks) goes byte by byte. */
static void emit_vlan_load(struct emitter *e)
{
	struct exits fail = { .n = 0 }, done = { .n = 0 };
	size_t low, two, one;
	int i;

	e->label[L_VLAN_LOAD] = e->n;
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_2, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_8, BPF_REG_3, 0, 0);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_9, 0, 0, 0);
	/* Keeps offset + 3 within 32 bits: bpf_skb_load_bytes takes a u32. */
	jump_to_exit(e, &fail, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_7, 0x7fffffff);
	emit(e, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_7, 0, 0, 16);
	low = e->n - 1;
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_7, 0, 0);
	emit(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4);
	emit(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_8, 0, 0, 2);
	two = e->n - 1;
	emit(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_8, 0, 0, 1);
	one = e->n - 1;
	emit_vlan_whole(e, &fail, 4);
	e->insn[two].off = e->n - two - 1;
	emit_vlan_whole(e, &fail, 2);
	e->insn[one].off = e->n - one - 1;
	emit_vlan_whole(e, &fail, 1);
	e->insn[low].off = e->n - low - 1;
	for (i = 0; i < 4; i++) {
		if (i)
			jump_to_exit(e, &done, BPF_JMP | BPF_JLE | BPF_K, BPF_REG_8, i);
		emit_vlan_byte(e, &fail, i);
	}
	place_exit(e, &done);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_9, 0, 0);
	emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	place_exit(e, &fail);
	emit(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1);
	emit(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static int resolve(struct emitter *e)
{
	size_t i;

	for (i = 0; i < e->n_fix; i++) {
		const struct fixup *f = &e->fix[i];
		size_t to = f->kind == L_INSN ? e->start[f->target] : e->label[f->kind];
		long off = (long)to - (long)f->at - 1;

		if (f->kind == L_VLAN_LOAD)
			e->insn[f->at].imm = off; /* bpf-to-bpf calls: relative, in imm */
		else if (off < -32768 || off > 32767)
			goto big;
		else
			e->insn[f->at].off = off;
	}
	return 0;
big:
	set_err(e, "filter too large for eBPF jump offsets");
	return -E2BIG;
}

int sv_cbpf_translate(const struct sv_cinsn *prog, size_t n, const struct sv_cbpf_opts *o,
		      struct bpf_insn **out, size_t *out_n, char *err, size_t errlen)
{
	struct emitter e = { .err = err, .errlen = errlen, .dir = o->dir };
	char *reach = NULL;
	size_t pc;
	int ret = -EINVAL;

	if (!n || n > 4096) {
		snprintf(err, errlen, "classic BPF program of %zu instructions", n);
		return -EINVAL;
	}
	/* At most 20 eBPF instructions and 3 jumps per classic one (a packet load), plus the
	 * prologue, the epilogues and the VLAN subprogram (some 250 together). */
	e.cap = 24 * n + 512;
	e.cap_fix = 4 * n + 16;
	e.insn = calloc(e.cap, sizeof(*e.insn));
	e.fix = calloc(e.cap_fix, sizeof(*e.fix));
	reach = calloc(n, 1);
	e.start = calloc(n, sizeof(*e.start));
	if (!reach || !e.start || !e.insn || !e.fix) {
		ret = -ENOMEM;
		goto out;
	}
	if (mark_reachable(prog, n, reach)) {
		set_err(&e, "classic BPF program does not end in a return");
		goto out;
	}
	emit_prologue(&e, prog, n);
	for (pc = 0; pc < n; pc++) {
		e.start[pc] = e.n;
		if (!reach[pc])
			continue;
		ret = conv_one(&e, &prog[pc], pc, n);
		if (ret)
			goto out;
	}
	/* Only what is jumped to: the verifier refuses unreachable instructions. */
	if (e.used[L_REJECT])
		emit_reject(&e, o);
	if (e.used[L_ACCEPT] && o->mark_id && o->cls)
		emit_cls_accept(&e, o);
	else if (e.used[L_ACCEPT] && o->mark_id)
		emit_mark(&e, o->mark_id);
	else if (e.used[L_ACCEPT])
		emit_accept(&e, o);
	if (e.used[L_VLAN_LOAD])
		emit_vlan_load(&e);
	if (e.overflow) {
		set_err(&e, "translation overflowed its buffer");
		ret = -E2BIG;
		goto out;
	}
	ret = resolve(&e);
	if (ret)
		goto out;
	*out = e.insn;
	*out_n = e.n;
	e.insn = NULL;
out:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(e.insn);
	free(e.fix);
	free(e.start);
	free(reach);
	return ret;
}

int sv_cbpf_load(const struct bpf_insn *insns, size_t n, const char *name, char *err,
		 size_t errlen)
{
	static char log[65536];
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log),
		    .log_level = 0);
	char *last, *p;
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", insns, n, &opts);
	if (fd >= 0)
		return fd;
	fd = -errno;
	/* Without a log level the kernel logs only on failure; keep its last line. */
	if (!log[0]) {
		opts.log_level = 1;
		log[0] = 0;
		int again = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", insns, n, &opts);

		if (again >= 0)
			return again;
	}
	p = log + strlen(log);
	while (p > log && p[-1] == '\n')
		*--p = 0;
	last = strrchr(log, '\n');
	snprintf(err, errlen, "verifier: %s", last ? last + 1 : log);
	return fd;
}
