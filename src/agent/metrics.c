// SPDX-License-Identifier: GPL-2.0
/* The agent's Prometheus endpoint; see metrics.h. Names follow Prometheus conventions:
 * sitevisor_agent_ prefix, _total for counters, base units (bytes). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <microhttpd.h>
#include "iface.h"
#include "listen.h"
#include "metrics.h"
#include "sb.h"

struct sv_metrics {
	struct MHD_Daemon *d;
	int fd;
	pthread_mutex_t lock;
	char *text; /* the latest snapshot */
	size_t len;
};

static void label(struct sb *s, const char *v)
{
	sb_putc(s, '"');
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			sb_putc(s, '\\');
		if (*v == '\n')
			sb_puts(s, "\\n");
		else
			sb_putc(s, *v);
	}
	sb_putc(s, '"');
}

static void head(struct sb *s, const char *name, const char *type, const char *help)
{
	sb_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{box="..."[,extra]} value */
static void sample(struct sb *s, const char *name, const char *box, const char *extra,
		   unsigned long long v)
{
	sb_printf(s, "%s{box=", name);
	label(s, box);
	if (extra)
		sb_printf(s, ",%s", extra);
	sb_printf(s, "} %llu\n", v);
}

static void one(struct sb *s, const char *name, const char *type, const char *help,
		const char *box, unsigned long long v)
{
	head(s, name, type, help);
	sample(s, name, box, NULL, v);
}

static void iface_counters(struct sb *s, const struct sv_metrics_input *in, int bytes)
{
	const char *name = bytes ? "sitevisor_agent_bytes_total" : "sitevisor_agent_packets_total";
	size_t i;

	head(s, name, "counter",
	     bytes ? "Bytes on the wire by interface and direction, as of the last collect." :
		     "Packets on the wire by interface and direction, as of the last collect.");
	for (i = 0; i < in->n_ifs; i++) {
		const struct sv_iface_total *t = &in->ifs[i];
		const char *n = sv_ifaces_name(in->ifaces, t->ifindex);
		struct sb l;

		sb_init(&l);
		sb_puts(&l, "iface=");
		label(&l, n ? n : "unknown");
		sb_printf(&l, ",direction=\"%s\"", t->direction ? "egress" : "ingress");
		if (!sb_failed(&l))
			sample(s, name, in->box, l.buf, bytes ? t->bytes : t->packets);
		sb_free(&l);
	}
}

static void lost(struct sb *s, const struct sv_metrics_input *in)
{
	const unsigned long long *k = in->kernel;

	head(s, "sitevisor_agent_events_lost_total", "counter",
	     "What could not be recorded, by reason: packets not counted in a flow, packet "
	     "events not delivered, records not delivered to the post.");
	sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"flow_table_full\"",
	       k[SV_LOST_FLOW_PACKETS]);
	sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"no_flow_map\"",
	       k[SV_LOST_NO_MAP]);
	sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"ring_buffer_full\"",
	       k[SV_LOST_RINGBUF]);
	sample(s, "sitevisor_agent_events_lost_total", in->box,
	       "reason=\"fingerprint_ring_buffer_full\"", k[SV_LOST_FP_RINGBUF]);
	if (in->drop_kernel)
		sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"drop_map_full\"",
		       in->drop_kernel[SV_DROP_LOST_PACKETS]);
	if (in->dl) {
		sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"spool_full\"",
		       in->dl->dropped_records);
		sample(s, "sitevisor_agent_events_lost_total", in->box, "reason=\"post_rejected\"",
		       in->dl->rejected_records);
	}
}

/* The site's drops the kernel reported, by reason (--drops); the observer's own losses of
 * them are in events_lost_total{reason="drop_map_full"}. */
static void drops(struct sb *s, const struct sv_metrics_input *in)
{
	const char *name = "sitevisor_agent_kernel_drops_total";
	size_t i;

	head(s, name, "counter", "Packets the kernel dropped in this box, by its drop reason, "
				 "as of the last collect.");
	for (i = 0; i < in->n_drops; i++) {
		struct sb l;

		sb_init(&l);
		sb_puts(&l, "reason=");
		label(&l, in->drops[i].reason);
		if (!sb_failed(&l))
			sample(s, name, in->box, l.buf, in->drops[i].packets);
		sb_free(&l);
	}
}

static void delivery(struct sb *s, const struct sv_metrics_input *in)
{
	const struct sv_deliver_stats *d = in->dl;

	one(s, "sitevisor_agent_records_delivered_total", "counter",
	    "Flow records the post acknowledged.", in->box, d->delivered_records);
	one(s, "sitevisor_agent_export_errors_total", "counter",
	    "Sends to the post that failed (unreachable, 5xx, token refused); retried.", in->box,
	    d->failures);
	one(s, "sitevisor_agent_spool_batches", "gauge", "Batches waiting in the spool.", in->box,
	    d->spool_batches);
	one(s, "sitevisor_agent_spool_bytes", "gauge", "Bytes waiting in the spool.", in->box,
	    d->spool_bytes);
}

static int render(const struct sv_metrics_input *in, struct sb *s)
{
	const unsigned long long *k = in->kernel;

	head(s, "sitevisor_agent_build_info", "gauge", "The agent's version.");
	sb_printf(s, "sitevisor_agent_build_info{box=");
	label(s, in->box);
	sb_printf(s, ",version=\"%s\"} 1\n", in->version);
	iface_counters(s, in, 0);
	iface_counters(s, in, 1);
	one(s, "sitevisor_agent_kernel_packets_total", "counter",
	    "Packets the BPF programs saw on every traced interface.", in->box, k[SV_CNT_PACKETS]);
	one(s, "sitevisor_agent_kernel_bytes_total", "counter",
	    "Bytes the BPF programs saw on every traced interface.", in->box, k[SV_CNT_BYTES]);
	one(s, "sitevisor_agent_malformed_frames_total", "counter",
	    "Frames whose headers were truncated or lied (still counted in a flow).", in->box,
	    k[SV_CNT_MALFORMED]);
	one(s, "sitevisor_agent_packet_events_sampled_total", "counter",
	    "Packet events selected for --packets.", in->box, k[SV_CNT_SAMPLED]);
	one(s, "sitevisor_agent_trajectory_fingerprints_total", "counter",
	    "Packets fingerprinted for --trajectory.", in->box, k[SV_CNT_FP]);
	one(s, "sitevisor_agent_flows_active", "gauge", "Flows the agent holds.", in->box,
	    in->flows_active);
	one(s, "sitevisor_agent_records_exported_total", "counter", "Flow records written.",
	    in->box, in->records);
	one(s, "sitevisor_agent_interfaces_traced", "gauge", "Interfaces with programs attached.",
	    in->box, in->traced);
	lost(s, in);
	if (in->drop_kernel)
		drops(s, in);
	if (in->dl)
		delivery(s, in);
	return sb_failed(s) ? -ENOMEM : 0;
}

int sv_metrics_publish(struct sv_metrics *m, const struct sv_metrics_input *in)
{
	struct sb s;

	sb_init(&s);
	if (render(in, &s)) {
		sb_free(&s);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	free(m->text);
	m->text = s.buf;
	m->len = s.len;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *data,
			     size_t *size, void **con_cls)
{
	struct sv_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int ok = !strcmp(url, "/metrics") && !strcmp(method, "GET");

	pthread_mutex_lock(&m->lock);
	r = ok ? MHD_create_response_from_buffer(m->len, m->text, MHD_RESPMEM_MUST_COPY) :
		 MHD_create_response_from_buffer(10, "not found\n", MHD_RESPMEM_PERSISTENT);
	pthread_mutex_unlock(&m->lock);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type",
				ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
	ret = MHD_queue_response(c, ok ? 200 : 404, r);
	MHD_destroy_response(r);
	return ret;
}

int sv_metrics_start(const char *spec, struct sv_metrics **out)
{
	struct sv_metrics *m = calloc(1, sizeof(*m));
	sigset_t all, old;

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->text = strdup("");
	m->fd = sv_listen(spec);
	if (m->fd < 0) {
		int err = m->fd;

		free(m->text);
		free(m);
		return err;
	}
	/* Its thread inherits this mask: with every signal blocked there, SIGTERM reaches the
	 * main thread's signalfd instead of ending the process (as lib/thread.c does). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, serve, m,
				MHD_OPTION_LISTEN_SOCKET, m->fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->d) {
		close(m->fd);
		free(m->text);
		free(m);
		return -EINVAL;
	}
	*out = m;
	return 0;
}

void sv_metrics_stop(struct sv_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}
