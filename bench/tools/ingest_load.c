// SPDX-License-Identifier: GPL-2.0
/* ingest_load: sends N synthetic flow records to a post in batches over HTTP and prints the
 * records per second it achieved. Bodies are built before the clock starts, so the number
 * is the post's, not the generator's.
 *
 *   ingest_load -u URL -t TOKEN [-n RECORDS] [-b PER_BATCH] [-d DAYS] [-B BOXES] [-s SEED]
 *               [-T N] [-w FILE]
 * With -T N each batch also carries trajectory fingerprints as an agent run with
 * --trajectory N sends them: 1 in N of the packets its records count, each a "type":"fp"
 * line of its record's box, interface, direction and 5-tuple (src/agent/output.c).
 * With -w it prints "ready" once its bodies are built and waits (up to 10 minutes) until FILE
 * exists, so several senders start together and a clock around them measures the post. */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct body {
	char *p;
	size_t len;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* SplitMix64: the fingerprints' own numbers, so that -T leaves the records as they were. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t sink(void *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* What every batch shares: the range of records and times, the boxes, the sampling. */
struct shape {
	long total; /* records of this sender */
	int boxes;
	long long t0, span; /* ns: records' last_ns spread evenly over [t0, t0 + span) */
	unsigned int traj; /* 0: no fingerprints; N: 1 packet in N */
	unsigned int seed;
	const char *run;
};

/* The fingerprints of record i's packets: as many as 1 in N of them gives on average (its
 * fraction drawn), each a sampled packet of the record's flow at a time within it. The hash
 * is random but 0 modulo N, as the agent selects (docs/paths.md); it joins with no other box's
 * sighting, so each is a packet of one sighting to the trajectory join. */
static unsigned int fps(FILE *f, const struct shape *sh, long i, const char *head,
			unsigned int packets, unsigned int bytes, long long first, long long last)
{
	uint64_t x = mix64(((uint64_t)sh->seed << 40) ^ (uint64_t)i);
	unsigned int k = packets / sh->traj + (x % sh->traj < packets % sh->traj), j;

	for (j = 0; j < k; j++) {
		uint64_t h = mix64(x + j + 1), t = mix64(h) % (uint64_t)(last - first + 1);

		h -= h % sh->traj;
		fprintf(f, "{\"type\":\"fp\",\"hash\":\"%016llx\",\"ts_ns\":%lld,%s,"
			   "\"tunnel\":false,\"len\":%u}\n",
			(unsigned long long)h, first + (long long)t, head, bytes / packets);
	}
	return k;
}

/* One batch of records shaped like a site's: a pool of conversations (client, server,
 * service) per box, picked with a strong skew, each using a few source ports; times spread
 * over the range and increasing, each jittered within its share of it; a record of one
 * packet lasts 0 ns, others anything up to the agent's 10-s interval, in ns. Real flow
 * records repeat conversations (a long flow is re-exported every interval, clients
 * reconnect); purely random tuples would not. With fingerprints, each record's come before
 * it, as an agent's ring buffer delivers them during the interval whose end writes the
 * record. */
#define CONVERSATIONS 3000

/* Returns the fingerprints it wrote. */
static long build(struct body *b, long first, long n, const struct shape *sh, unsigned int seed)
{
	static const int ports[] = { 443, 80, 53, 22, 8080, 5432, 6379, 123, 3306, 9100 };
	FILE *f = open_memstream(&b->p, &b->len);
	int box = first / n % sh->boxes;
	char head[256];
	long i, n_fps = 0;

	fprintf(f, "{\"type\":\"batch\",\"batch_id\":\"load-%s-%ld\",\"box\":\"box%d\","
		   "\"agent_version\":\"bench\",\"interfaces\":[\"eth0\",\"eth1\"]}\n",
		sh->run, first, box);
	for (i = first; i < first + n && i < sh->total; i++) {
		unsigned int r = rand_r(&seed);
		double u = (r & 0xffff) / 65536.0;
		/* u^3 skews towards the first conversations: a few talk most. */
		unsigned int c = CONVERSATIONS * u * u * u, h = c * 2654435761u;
		int src = h % 500, dst = (h >> 9) % 200, svc = (h >> 17) % 10;
		long long step = sh->span / sh->total > 1 ? sh->span / sh->total : 1;
		long long last = sh->t0 + (long long)((double)sh->span * i / sh->total) +
				 rand_r(&seed) % step;
		unsigned int packets = 1 + (r >> 20) % 100, bytes = 64 + (r >> 14) % 100000;
		long long dur = packets == 1 ? 0 :
			((long long)rand_r(&seed) << 16 ^ rand_r(&seed)) % 10000000000LL;

		if (sh->traj) {
			/* The key as the agent writes it in a fingerprint (src/agent/output.c). */
			snprintf(head, sizeof(head),
				 "\"box\":\"box%d\",\"iface\":\"eth%d\",\"direction\":\"%s\","
				 "\"ip_version\":4,\"protocol\":%d,\"src_addr\":\"198.18.%d.%d\","
				 "\"dst_addr\":\"198.19.0.%d\",\"src_port\":%u,\"dst_port\":%d",
				 box, (h >> 5) & 1, (h >> 6) & 1 ? "egress" : "ingress",
				 svc == 2 || svc == 7 ? 17 : 6, src / 250, src % 250 + 1, dst + 1,
				 32768 + (h + (r >> 16) % 4) % 28000, ports[svc]);
			n_fps += fps(f, sh, i, head, packets, bytes, last - dur, last);
		}
		fprintf(f,
			"{\"type\":\"flow\",\"box\":\"box%d\",\"iface\":\"eth%d\",\"direction\":\"%s\","
			"\"eth_type\":2048,\"ip_version\":4,\"protocol\":%d,\"src_addr\":\"198.18.%d.%d\","
			"\"dst_addr\":\"198.19.0.%d\",\"src_port\":%u,\"dst_port\":%d,"
			"\"src_mac\":\"02:00:00:00:00:01\",\"dst_mac\":\"02:00:00:00:00:02\","
			"\"packets\":%u,\"bytes\":%u,\"tcp_flags\":24,\"first_ns\":%lld,\"last_ns\":%lld,"
			"\"end_reason\":\"active\"}\n",
			box, (h >> 5) & 1, (h >> 6) & 1 ? "egress" : "ingress", svc == 2 || svc == 7 ? 17 : 6,
			src / 250, src % 250 + 1, dst + 1, 32768 + (h + (r >> 16) % 4) % 28000,
			ports[svc], packets, bytes, last - dur, last);
	}
	fclose(f);
	return n_fps;
}

int main(int argc, char **argv)
{
	long total = 100000, per = 5000, i, nb, n_fps = 0;
	int boxes = 3, c;
	long long secs = 7 * 86400LL;
	unsigned int seed = 1, traj = 0;
	const char *url = NULL, *token = "", *start_file = NULL;
	char auth[256], ingest[512], run[32];
	struct curl_slist *h = NULL;
	struct body *bodies;
	struct shape sh;
	long long t1, span;
	double t;
	CURL *cu;

	while ((c = getopt(argc, argv, "u:t:n:b:d:r:B:s:T:w:")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 't': token = optarg; break;
		case 'n': total = atol(optarg); break;
		case 'b': per = atol(optarg); break;
		case 'd': secs = atoll(optarg) * 86400; break;
		case 'r': secs = atoll(optarg); break;
		case 'B': boxes = atoi(optarg); break;
		case 's': seed = atoi(optarg); break;
		case 'T': traj = atoi(optarg); break;
		case 'w': start_file = optarg; break;
		default: return 2;
		}
	}
	if (!url || total <= 0 || per <= 0 || boxes <= 0 || (int)traj < 0) {
		fprintf(stderr, "usage: ingest_load -u URL -t TOKEN [-n N] [-b PER_BATCH] [-d DAYS | -r SECONDS] "
				"[-B BOXES] [-s SEED] [-T N] [-w FILE]\n");
		return 2;
	}
	snprintf(run, sizeof(run), "%u-%ld", seed, (long)time(NULL));
	nb = (total + per - 1) / per;
	bodies = calloc(nb, sizeof(*bodies));
	t1 = (long long)time(NULL) * 1000000000LL;
	span = secs * 1000000000LL;
	sh = (struct shape){ .total = total, .boxes = boxes, .t0 = t1 - span, .span = span,
			     .traj = traj, .seed = seed, .run = run };
	for (i = 0; i < nb; i++)
		n_fps += build(&bodies[i], i * per, per, &sh, seed + i);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	snprintf(ingest, sizeof(ingest), "%s/api/v1/ingest", url);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/x-ndjson");
	curl_global_init(CURL_GLOBAL_ALL);
	cu = curl_easy_init();
	curl_easy_setopt(cu, CURLOPT_URL, ingest);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, sink);
	if (start_file) {
		printf("ready\n");
		fflush(stdout);
		for (c = 0; c < 60000 && access(start_file, F_OK); c++)
			usleep(10000);
	}
	t = now();
	for (i = 0; i < nb; i++) {
		long code = 0;

		curl_easy_setopt(cu, CURLOPT_POSTFIELDS, bodies[i].p);
		curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)bodies[i].len);
		if (curl_easy_perform(cu) || (curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code), code != 200)) {
			fprintf(stderr, "ingest_load: batch %ld failed (HTTP %ld)\n", i, code);
			return 1;
		}
		free(bodies[i].p);
	}
	t = now() - t;
	printf("%ld records in %.2f s: %.0f records/s", total, t, total / t);
	if (traj)
		printf("; %ld fingerprints (1 packet in %u)", n_fps, traj);
	printf("\n");
	curl_easy_cleanup(cu);
	return 0;
}
