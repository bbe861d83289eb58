// SPDX-License-Identifier: GPL-2.0
/* ingest_load: sends N synthetic flow records to a post in batches over HTTP and prints the
 * records per second it achieved. Bodies are built before the clock starts, so the number
 * is the post's, not the generator's.
 *
 *   ingest_load -u URL -t TOKEN [-n RECORDS] [-b PER_BATCH] [-d DAYS] [-B BOXES] [-s SEED]
 *               [-w FILE]
 * With -w it prints "ready" once its bodies are built and waits (up to 10 minutes) until FILE
 * exists, so several senders start together and a clock around them measures the post. */
#include <curl/curl.h>
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

static size_t sink(void *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

/* One batch of records shaped like a site's: a pool of conversations (client, server,
 * service) per box, picked with a strong skew, each using a few source ports; times spread
 * over the range and increasing, each jittered within its share of it; a record of one
 * packet lasts 0 ns, others anything up to the agent's 10-s interval, in ns. Real flow
 * records repeat conversations (a long flow is re-exported every interval, clients
 * reconnect); purely random tuples would not. */
#define CONVERSATIONS 3000

static void build(struct body *b, long first, long n, long total, int boxes, long long t0,
		  long long span, unsigned int seed, const char *run)
{
	static const int ports[] = { 443, 80, 53, 22, 8080, 5432, 6379, 123, 3306, 9100 };
	FILE *f = open_memstream(&b->p, &b->len);
	int box = first / n % boxes;
	long i;

	fprintf(f, "{\"type\":\"batch\",\"batch_id\":\"load-%s-%ld\",\"box\":\"box%d\","
		   "\"agent_version\":\"bench\",\"interfaces\":[\"eth0\",\"eth1\"]}\n",
		run, first, box);
	for (i = first; i < first + n && i < total; i++) {
		unsigned int r = rand_r(&seed);
		double u = (r & 0xffff) / 65536.0;
		/* u^3 skews towards the first conversations: a few talk most. */
		unsigned int c = CONVERSATIONS * u * u * u, h = c * 2654435761u;
		int src = h % 500, dst = (h >> 9) % 200, svc = (h >> 17) % 10;
		long long step = span / total > 1 ? span / total : 1;
		long long last = t0 + (long long)((double)span * i / total) + rand_r(&seed) % step;
		unsigned int pk = 1 + (r >> 20) % 100;
		long long dur = pk == 1 ? 0 : ((long long)rand_r(&seed) << 16 ^ rand_r(&seed)) %
						   10000000000LL;

		fprintf(f,
			"{\"type\":\"flow\",\"box\":\"box%d\",\"iface\":\"eth%d\",\"direction\":\"%s\","
			"\"eth_type\":2048,\"ip_version\":4,\"protocol\":%d,\"src_addr\":\"198.18.%d.%d\","
			"\"dst_addr\":\"198.19.0.%d\",\"src_port\":%u,\"dst_port\":%d,"
			"\"src_mac\":\"02:00:00:00:00:01\",\"dst_mac\":\"02:00:00:00:00:02\","
			"\"packets\":%u,\"bytes\":%u,\"tcp_flags\":24,\"first_ns\":%lld,\"last_ns\":%lld,"
			"\"end_reason\":\"active\"}\n",
			box, (h >> 5) & 1, (h >> 6) & 1 ? "egress" : "ingress", svc == 2 || svc == 7 ? 17 : 6,
			src / 250, src % 250 + 1, dst + 1, 32768 + (h + (r >> 16) % 4) % 28000,
			ports[svc], pk, 64 + (r >> 14) % 100000, last - dur, last);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	long total = 100000, per = 5000, i, nb;
	int boxes = 3, c;
	long long secs = 7 * 86400LL;
	unsigned int seed = 1;
	const char *url = NULL, *token = "", *start_file = NULL;
	char auth[256], ingest[512], run[32];
	struct curl_slist *h = NULL;
	struct body *bodies;
	long long t1, span;
	double t;
	CURL *cu;

	while ((c = getopt(argc, argv, "u:t:n:b:d:r:B:s:w:")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 't': token = optarg; break;
		case 'n': total = atol(optarg); break;
		case 'b': per = atol(optarg); break;
		case 'd': secs = atoll(optarg) * 86400; break;
		case 'r': secs = atoll(optarg); break;
		case 'B': boxes = atoi(optarg); break;
		case 's': seed = atoi(optarg); break;
		case 'w': start_file = optarg; break;
		default: return 2;
		}
	}
	if (!url || total <= 0 || per <= 0 || boxes <= 0) {
		fprintf(stderr, "usage: ingest_load -u URL -t TOKEN [-n N] [-b PER_BATCH] [-d DAYS | -r SECONDS] "
				"[-B BOXES] [-s SEED]\n");
		return 2;
	}
	snprintf(run, sizeof(run), "%u-%ld", seed, (long)time(NULL));
	nb = (total + per - 1) / per;
	bodies = calloc(nb, sizeof(*bodies));
	t1 = (long long)time(NULL) * 1000000000LL;
	span = secs * 1000000000LL;
	for (i = 0; i < nb; i++)
		build(&bodies[i], i * per, per, total, boxes, t1 - span, span, seed + i, run);
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
	printf("%ld records in %.2f s: %.0f records/s\n", total, t, total / t);
	curl_easy_cleanup(cu);
	return 0;
}
