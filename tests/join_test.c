// SPDX-License-Identifier: GPL-2.0
/* The trajectory join's room (src/post/paths.c): sampled packets, whose hashes are all 0
 * modulo the agents' N (docs/paths.md), fill it up to its bound, not a fraction of it; a flood
 * of one hash still stops at one bucket's bound. No root, no network: a SQLite store in a
 * temporary file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "paths.h"

#define NS 1000000000LL
#define T0 (1795319943LL * NS)
#define PACKETS 100000 /* more than the 65536 that fit when 1 in 64 used 1/64 of the buckets */
#define FLOOD 200

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* n sightings on box b: hash(i) and its time ts(i), packets of 1 in 64 otherwise alike. */
static void fill(struct sv_batch *b, size_t n, uint64_t (*hash)(size_t), int64_t (*ts)(size_t))
{
	size_t i;

	memset(b, 0, sizeof(*b));
	snprintf(b->box, sizeof(b->box), "b");
	snprintf(b->batch_id, sizeof(b->batch_id), "j1");
	b->fps = calloc(n, sizeof(*b->fps));
	b->n_fps = b->cap_fps = b->fps ? n : 0;
	for (i = 0; i < b->n_fps; i++) {
		struct sv_fp_rec *f = &b->fps[i];

		f->hash = hash(i);
		f->ts_ns = ts(i);
		snprintf(f->iface, sizeof(f->iface), "eth0");
		f->direction = 1;
		f->ip_version = 4;
		f->protocol = 17;
		f->src_port = 1000;
		f->dst_port = 2000;
		snprintf(f->src_addr, sizeof(f->src_addr), "198.18.0.1");
		snprintf(f->dst_addr, sizeof(f->dst_addr), "198.18.0.2");
	}
}

static uint64_t sampled(size_t i)
{
	uint64_t h = mix64(i);

	return h - h % 64; /* what --trajectory 64 selects */
}

static uint64_t one_hash(size_t i)
{
	(void)i;
	return 64;
}

static int64_t together(size_t i)
{
	return T0 + (int64_t)i;
}

static int64_t apart(size_t i)
{
	return T0 + (int64_t)i * 3 * NS; /* beyond SV_PATHS_WINDOW_NS: another packet each */
}

/* A fresh join over a fresh store: the stats after adding b. */
static void join(struct sv_batch *b, struct sv_paths_stats *s)
{
	char path[] = "/tmp/sv-join-test-XXXXXX", err[256];
	struct sv_store *st = NULL;
	struct sv_paths *j = NULL;
	int fd = mkstemp(path);

	memset(s, 0, sizeof(*s));
	if (fd < 0) {
		check(0, "a temporary database");
		return;
	}
	close(fd);
	unlink(path);
	check(!sv_store_open(path, &st, err, sizeof(err)), "the store opens: %s", err);
	if (st && !sv_paths_open(st, 30 * NS, &j)) {
		sv_paths_add(j, b, T0);
		sv_paths_stats(j, s);
	}
	sv_paths_close(j);
	sv_store_close(st);
	unlink(path);
}

int main(void)
{
	struct sv_paths_stats s;
	struct sv_batch b;

	fill(&b, PACKETS, sampled, together);
	join(&b, &s);
	check(s.fingerprints == PACKETS && s.dropped == 0,
	      "%d packets sampled 1 in 64 all wait in the join: %llu joined, %llu dropped",
	      PACKETS, s.fingerprints, s.dropped);
	sv_batch_free(&b);
	fill(&b, FLOOD, one_hash, apart);
	join(&b, &s);
	check(s.fingerprints == 64 && s.dropped == FLOOD - 64,
	      "%d packets of one hash: one bucket's 64 wait, the rest dropped (%llu joined, "
	      "%llu dropped)", FLOOD, s.fingerprints, s.dropped);
	sv_batch_free(&b);
	printf("%d checks passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
