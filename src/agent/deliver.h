/* SPDX-License-Identifier: GPL-2.0 */
/* Delivery of flow records to the post (docs/api.md, POST /api/v1/ingest). Each scan's
 * records become a batch: a header line, then the records exactly as --json writes them.
 * Batches go to a bounded spool on disk first, one file each; a sender thread POSTs the
 * oldest and deletes it only after a 2xx. A batch keeps its id across retries and restarts,
 * so the post stores it once however often it arrives. */
#ifndef SV_DELIVER_H
#define SV_DELIVER_H

#include "flowtab.h"
#include "iface.h"

#define SV_DELIVER_MAX_POSTS 8

struct sv_deliver_cfg {
	/* Each http://HOST:PORT, https://HOST:PORT or unix:/PATH: the posts of one site, which
	 * batches fail over between (1 to SV_DELIVER_MAX_POSTS). */
	const char *const *urls;
	int n_urls;
	const char *token; /* or NULL and token_file */
	const char *token_file;
	const char *ca_file; /* NULL: the system's CAs */
	const char *spool_dir; /* NULL: /var/lib/sitevisor/spool/<box> */
	unsigned int spool_max_mb;
	unsigned int drain_timeout; /* seconds the sender gets at exit */
	const char *box;
	const char *version;
	const struct sv_ifaces *ifaces;
};

struct sv_deliver;

/* Checks the URL, reads the token, creates and locks the spool and lists the batches a
 * previous run left there. Any problem: one line and a negative errno. */
int sv_deliver_open(const struct sv_deliver_cfg *cfg, struct sv_deliver **out);
/* Starts the sender: from now on the spool's batches go out, oldest first. */
int sv_deliver_start(struct sv_deliver *d);
/* A scan's records: sv_deliver_flow() for each (an sv_flow_cb), then sv_deliver_end() to
 * spool the batch. Never fails: what cannot be spooled is counted and reported. */
int sv_deliver_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r);
void sv_deliver_end(struct sv_deliver *d);
/* A trajectory fingerprint joins the batch being built (sealed by the next sv_deliver_end);
 * never fails, like sv_deliver_flow. */
void sv_deliver_fp(struct sv_deliver *d, const struct sv_fp_event *e, __u64 wall_ns);
/* Batch headers keep naming the interfaces traced now: the agent is detaching them. */
void sv_deliver_freeze_ifaces(struct sv_deliver *d);
struct sv_deliver_stats {
	unsigned long long spool_batches, spool_bytes;
	unsigned long long delivered_records, dropped_records, rejected_records;
	unsigned long long duplicates; /* batches the post already had */
	unsigned long long failures; /* sends that failed (unreachable, 5xx, token) */
};

/* Where a post answers and how to authenticate, for the agent's other requests to the posts
 * (the tap's rules): url is the ingest URL, shown the --post as given; strings owned by d (or
 * the configuration), valid until sv_deliver_close. */
struct sv_post_endpoint {
	const char *url, *unix_path, *auth, *ca_file, *shown;
};
/* Every --post, in the order given, into ep[SV_DELIVER_MAX_POSTS]; returns how many. */
int sv_deliver_endpoints(const struct sv_deliver *d, struct sv_post_endpoint *ep);

/* A consistent snapshot, from any thread. */
void sv_deliver_stats(struct sv_deliver *d, struct sv_deliver_stats *st);
/* Gives the sender up to the drain timeout to empty the spool, stops it, reports what was
 * delivered, dropped and left, and frees d. Unsent batches stay for the next start. */
void sv_deliver_close(struct sv_deliver *d);

#endif /* SV_DELIVER_H */
