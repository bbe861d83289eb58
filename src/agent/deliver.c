// SPDX-License-Identifier: GPL-2.0
/* Delivery to the post; see deliver.h.
 *
 * Why a spool on disk and not a queue in memory: a post that is down for an hour, or an
 * agent that restarts meanwhile, must not cost records, and a bound on disk is one we can
 * keep. Why a thread: a POST can take seconds (slow link, post restarting), and the event
 * loop must keep emptying the kernel's maps meanwhile. The two share only the queue of
 * spooled batches (lib/sendq.c, which this file tells what a batch is and what the post's
 * answers mean): the main thread appends and, when the spool is full, drops the oldest;
 * the sender takes the oldest, and removes it after a 2xx. The batch being sent is never
 * dropped, so a batch is either delivered or counted as dropped, never both.
 *
 * A spool file is named b-<start ns>-<sequence>-r<records>-p<packets>.ndjson: the padded
 * numbers sort oldest first, and the counts let a dropped batch be reported unread. Files
 * are written as .tmp-<name> and renamed, so a crash leaves whole batches or a .tmp- file
 * (removed at the next start). No fsync: it would stall the event loop on a busy disk, and
 * what an OS crash truncates the post refuses whole (400), which is counted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "deliver.h"
#include "log.h"
#include "output.h"
#include "sendq.h"

#define NS_PER_SEC SV_NS_PER_SEC
#define BATCH_MAX (4u << 20) /* the post takes 16 MiB by default: stay well below */
#define REC_MAX 2048 /* a record line is under 1 KiB: seal a batch this early */
#define IFACES_MAX 1900 /* the post keeps at most 2 KiB of interface list */
#define ID_BOX_MAX 80 /* batch ids have at most 128 characters */
#define BOX_MAX 127 /* the post's longest box name */
#define TOKEN_MAX SV_TOKEN_MAX
#define NAME_MAX_LEN 96
#define DEFAULT_SPOOL "/var/lib/sitevisor/spool/"
#define INGEST_PATH "/api/v1/ingest"

/* A spooled batch; it.records and it.packets come from its name. */
struct batch {
	struct sv_sendq_item it;
	char name[NAME_MAX_LEN];
};

struct sv_deliver {
	struct sv_sendq q; /* of spooled batches, shared with the sender thread */

	/* Set by open, read-only afterwards. */
	char *shown; /* the URL as given (the URLs, with several posts), for messages */
	char *url; /* the ingest URL (of the first post) */
	char *unix_path; /* NULL: TCP */
	/* Every --post (issue 14): a batch goes to the one that last answered, and to the next
	 * when that one gives none (cur_post: the sender's own). */
	struct {
		char *url, *unix_path;
		const char *shown; /* the configuration's */
	} posts[SV_DELIVER_MAX_POSTS];
	int n_posts, cur_post;
	char *auth; /* the Authorization header */
	char *ca_file;
	char spool[PATH_MAX];
	int dir_fd, lock_fd;
	size_t batch_max;
	char id_box[ID_BOX_MAX + 1];
	const char *box, *version;
	const struct sv_ifaces *ifaces;
	unsigned long long start_ns; /* wall clock: ids stay unique across restarts */

	/* The batch being built: main thread only. */
	FILE *f;
	char *buf;
	size_t len;
	struct sv_output out;
	unsigned long long seq;
	struct sv_sendq_counts cur;
	char ifaces_json[IFACES_MAX + 64];
	int ifaces_frozen;
	unsigned long long lost_logged_ns;
};

static unsigned long long wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* --- start-up checks -------------------------------------------------------------- */

static int parse_unix(struct sv_deliver *d, const char *path)
{
	if (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		pr_warn("invalid --post 'unix:%s': expected unix:/PATH with a path of 1 to %zu "
			"characters\n",
			path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	d->unix_path = strdup(path);
	d->url = strdup("http://localhost" INGEST_PATH);
	return d->unix_path && d->url ? 0 : -ENOMEM;
}

/* The URL's own path (a reverse proxy's prefix, say) with the ingest path appended. */
static int ingest_url(struct sv_deliver *d, CURLU *u)
{
	char *path = NULL, *full = NULL, *url = NULL;
	size_t n;
	int err = -ENOMEM;

	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	full = malloc(n + sizeof(INGEST_PATH));
	if (!full)
		goto out;
	memcpy(full, path, n);
	strcpy(full + n, INGEST_PATH);
	if (curl_url_set(u, CURLUPART_PATH, full, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	d->url = strdup(url);
	err = d->url ? 0 : -ENOMEM;
out:
	curl_free(path);
	curl_free(url);
	free(full);
	return err;
}

/* Plain HTTP beyond this box lets anyone on the path read the token and the records: said
 * once, at start (issue 15). */
static void warn_plain(CURLU *u, const char *url)
{
	char *scheme = NULL, *host = NULL;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && !strcmp(scheme, "http") &&
	    strcmp(host, "localhost") && strncmp(host, "127.", 4) && strcmp(host, "[::1]"))
		pr_warn("--post %s is plain HTTP to another host: the token and the records cross "
			"the network readable and alterable (use https://, see docs/security.md)\n",
			url);
	curl_free(scheme);
	curl_free(host);
}

static int parse_url(struct sv_deliver *d, const char *url)
{
	char *part = NULL;
	const char *why = NULL;
	CURLU *u;
	int err;

	if (!strncmp(url, "unix:", 5))
		return parse_unix(d, url + 5);
	err = sv_url_http(url, &u, &why);
	if (!err && curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK)
		why = "no user or password in the URL: the token authenticates";
	else if (!err && (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
			  curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK))
		why = "no query or fragment in the URL";
	if (why) {
		pr_warn("invalid --post '%s': %s (expected http://HOST:PORT, https://HOST:PORT or "
			"unix:/PATH)\n",
			url, why);
		err = -EINVAL;
	} else if (!err) {
		warn_plain(u, url);
		err = ingest_url(d, u);
	}
	curl_free(part);
	curl_url_cleanup(u);
	return err;
}

/* The first line that is neither blank nor a # comment (as in the post's --tokens file),
 * surrounding white space dropped. */
static int read_token(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	char *p, *e;

	if (!f) {
		pr_warn("cannot read --token-file %s: %s\n", path, strerror(errno));
		return -errno;
	}
	buf[0] = 0;
	while (fgets(buf, size, f)) {
		for (p = buf; *p == ' ' || *p == '\t'; p++)
			;
		for (e = p + strlen(p); e > p && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = 0;
		if (*p && *p != '#') {
			memmove(buf, p, e - p + 1);
			break;
		}
		buf[0] = 0;
	}
	fclose(f);
	if (!buf[0]) {
		pr_warn("--token-file %s holds no token\n", path);
		return -EINVAL;
	}
	return 0;
}

/* Printable ASCII without spaces, as the post's --tokens file has them. */
static int set_token(struct sv_deliver *d, const struct sv_deliver_cfg *cfg)
{
	char *buf = malloc(TOKEN_MAX + 2);
	const char *t = cfg->token;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	if (!t) {
		err = read_token(cfg->token_file, buf, TOKEN_MAX + 2);
		t = buf;
	}
	if (!err) {
		err = sv_auth_header("Bearer", t, 0, &d->auth);
		if (err == -EINVAL)
			pr_warn("invalid %s: 1 to %d printable characters without spaces\n",
				cfg->token ? "--token" : "token in --token-file", TOKEN_MAX);
	}
	memset(buf, 0, TOKEN_MAX + 2);
	free(buf);
	return err;
}

/* Batch ids and the default spool path allow [A-Za-z0-9._:-]: anything else becomes '_'. */
static void safe_name(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++)
		out[i] = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
					 (s[i] >= '0' && s[i] <= '9') || strchr("._:-", s[i]) ?
				 s[i] :
				 '_';
	out[i] = 0;
	if (out[0] == '.') /* never "." or ".." as a directory */
		out[0] = '_';
}

static int mkdir_p(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Another user's directory could hold links to files we would then overwrite or send: the
 * spool must be ours (issue 15). */
static int spool_owned(struct sv_deliver *d)
{
	struct stat st;

	if (fstat(d->dir_fd, &st))
		return -errno;
	if (st.st_uid == geteuid())
		return 0;
	pr_warn("spool %s belongs to uid %u, not to this agent's %u: refused\n", d->spool,
		(unsigned int)st.st_uid, (unsigned int)geteuid());
	return -EPERM;
}

/* Creates, locks and test-writes the spool: problems show at start, not at the first batch. */
static int open_spool(struct sv_deliver *d, const char *dir)
{
	char safe[ID_BOX_MAX + 1];
	int fd, err;

	if (dir)
		snprintf(d->spool, sizeof(d->spool), "%s", dir);
	else {
		safe_name(d->box, safe, sizeof(safe));
		snprintf(d->spool, sizeof(d->spool), DEFAULT_SPOOL "%s", safe);
	}
	err = mkdir_p(d->spool);
	if (!err) {
		d->dir_fd = open(d->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = d->dir_fd < 0 ? -errno : 0;
		if (!err && spool_owned(d))
			return -EPERM;
	}
	if (!err) {
		d->lock_fd = openat(d->dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				    0600);
		err = d->lock_fd < 0 ? -errno : 0;
	}
	if (!err && flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		pr_warn("spool %s is in use by another agent\n", d->spool);
		return -EBUSY;
	}
	if (!err) {
		fd = openat(d->dir_fd, ".tmp-probe",
			    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			    0600);
		err = fd < 0 || write(fd, "", 0) < 0 ? -errno : 0;
		if (fd >= 0) {
			close(fd);
			unlinkat(d->dir_fd, ".tmp-probe", 0);
		}
	}
	if (err)
		pr_warn("cannot use spool directory %s: %s\n", d->spool, strerror(-err));
	return err;
}

static int parse_batch_name(const char *name, struct batch *b)
{
	unsigned long long start, seq;
	int n = 0;

	if (strlen(name) >= sizeof(b->name) ||
	    sscanf(name, "b-%20llu-%10llu-r%llu-p%llu.ndjson%n", &start, &seq, &b->it.records,
		   &b->it.packets, &n) != 4 ||
	    !n || name[n])
		return -EINVAL;
	strcpy(b->name, name);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct batch *const *)a)->name, (*(struct batch *const *)b)->name);
}

/* What a previous run left: queued oldest first, to go out before anything new. */
static int load_spool(struct sv_deliver *d)
{
	struct batch **v = NULL, **nv, *b = NULL;
	unsigned long long left = 0;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd = dup(d->dir_fd);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (!strncmp(de->d_name, ".tmp-", 5)) { /* a write a crash cut short */
			unlinkat(d->dir_fd, de->d_name, 0);
			continue;
		}
		if (!b && !(b = calloc(1, sizeof(*b))))
			break;
		if (parse_batch_name(de->d_name, b) ||
		    fstatat(d->dir_fd, de->d_name, &st, 0) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		b->it.size = st.st_size;
		v[n++] = b;
		b = NULL;
	}
	free(b);
	closedir(dir);
	qsort(v, n, sizeof(*v), by_name);
	for (i = 0; i < n; i++) {
		left += v[i]->it.records;
		sv_sendq_append(&d->q, &v[i]->it);
	}
	free(v);
	if (n)
		pr_info("%zu batches (%llu records) a previous run left in %s go out first\n", n,
			left, d->spool);
	return 0;
}

static const struct sv_sendq_ops post_ops;

/* Each URL of cfg into d->posts; d->url and d->unix_path are the first post's, d->shown
 * names them all. */
static int parse_posts(struct sv_deliver *d, const struct sv_deliver_cfg *cfg)
{
	size_t len = 1;
	int i, err = 0;

	for (i = 0; i < cfg->n_urls && !err; i++) {
		d->url = d->unix_path = NULL;
		err = parse_url(d, cfg->urls[i]);
		d->posts[i].url = d->url;
		d->posts[i].unix_path = d->unix_path;
		d->posts[i].shown = cfg->urls[i];
		d->n_posts = i + 1;
		len += strlen(cfg->urls[i]) + 2;
	}
	d->url = d->posts[0].url;
	d->unix_path = d->posts[0].unix_path;
	d->shown = calloc(1, len);
	if (!d->shown)
		return -ENOMEM;
	for (i = 0; i < cfg->n_urls; i++)
		strcat(strcat(d->shown, i ? ", " : ""), cfg->urls[i]);
	return err;
}

int sv_deliver_open(const struct sv_deliver_cfg *cfg, struct sv_deliver **out)
{
	struct sv_deliver *d = calloc(1, sizeof(*d));
	size_t spool_max = (size_t)cfg->spool_max_mb << 20;
	int err;

	if (!d)
		return -ENOMEM;
	d->dir_fd = d->lock_fd = -1;
	d->box = cfg->box;
	d->version = cfg->version;
	d->ifaces = cfg->ifaces;
	/* At least four batches fit: dropping the oldest always makes room for the newest. */
	d->batch_max = spool_max / 4 < BATCH_MAX ? spool_max / 4 : BATCH_MAX;
	d->start_ns = wall_ns();
	err = sv_sendq_init(&d->q, &post_ops, d, spool_max, cfg->drain_timeout,
			    d->start_ns ^ ((unsigned long long)getpid() << 32));
	safe_name(cfg->box, d->id_box, sizeof(d->id_box));
	strcpy(d->ifaces_json, "[]");
	*out = d;
	if (err)
		return err;
	err = parse_posts(d, cfg);
	if (!err && cfg->ca_file) {
		if (d->unix_path || strncmp(d->url, "https:", 6)) {
			pr_warn("--post-ca needs an https:// --post URL\n");
			return -EINVAL;
		}
		if (access(cfg->ca_file, R_OK)) {
			pr_warn("cannot read --post-ca %s: %s\n", cfg->ca_file, strerror(errno));
			return -errno;
		}
		d->ca_file = strdup(cfg->ca_file);
		err = d->ca_file ? 0 : -ENOMEM;
	}
	if (!err)
		err = set_token(d, cfg);
	if (!err)
		err = open_spool(d, cfg->spool_dir);
	if (!err)
		err = load_spool(d);
	return err;
}

/* --- building batches (main thread) ------------------------------------------------ */

/* The interfaces traced now, as a JSON array the post keeps (and shows) with the box. */
static void list_ifaces(struct sv_deliver *d)
{
	const struct sv_iface *ifc;
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int n = 0;

	if (d->ifaces_frozen || !(f = open_memstream(&buf, &len)))
		return;
	fputc('[', f);
	for (ifc = d->ifaces->list; ifc; ifc = ifc->next) {
		if (!ifc->attached)
			continue;
		if (ftell(f) > IFACES_MAX - 2 * IF_NAMESIZE - 4)
			break; /* a long list is cut, not refused by the post */
		if (n++)
			fputc(',', f);
		sv_json_fstr(f, ifc->name);
	}
	fputc(']', f);
	if (!fclose(f) && len < sizeof(d->ifaces_json))
		memcpy(d->ifaces_json, buf, len + 1);
	free(buf);
}

static int begin_batch(struct sv_deliver *d)
{
	d->f = open_memstream(&d->buf, &d->len);
	if (!d->f)
		return -errno;
	list_ifaces(d);
	d->seq++;
	d->cur = (struct sv_sendq_counts){ 1, 0, 0 };
	d->out = (struct sv_output){ .f = d->f, .json = 1, .box = d->box, .ifaces = d->ifaces };
	fprintf(d->f, "{\"type\":\"batch\",\"batch_id\":\"%s-%llu-%llu\",\"box\":", d->id_box,
		d->start_ns, d->seq);
	sv_json_fstr(d->f, d->box);
	fprintf(d->f, ",\"agent_version\":");
	sv_json_fstr(d->f, d->version);
	fprintf(d->f, ",\"interfaces\":%s}\n", d->ifaces_json);
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

/* tmp + rename: the sender, and a later start, only ever see whole batches. */
static int spool_write(struct sv_deliver *d, const char *name)
{
	char tmp[NAME_MAX_LEN + 8];
	int fd, err;

	snprintf(tmp, sizeof(tmp), ".tmp-%s", name);
	fd = openat(d->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, d->buf, d->len);
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(d->dir_fd, tmp, d->dir_fd, name))
		err = -errno;
	if (err)
		unlinkat(d->dir_fd, tmp, 0);
	return err;
}

static void seal_batch(struct sv_deliver *d)
{
	struct batch *b = calloc(1, sizeof(*b));
	int bad = ferror(d->f), err;

	err = fclose(d->f) || bad || !b ? -ENOMEM : 0;
	d->f = NULL;
	if (!err) {
		snprintf(b->name, sizeof(b->name), "b-%020llu-%010llu-r%llu-p%llu.ndjson",
			 d->start_ns, d->seq, d->cur.records, d->cur.packets);
		b->it.size = d->len;
		b->it.records = d->cur.records;
		b->it.packets = d->cur.packets;
		sv_sendq_make_room(&d->q, d->len);
		err = spool_write(d, b->name);
	}
	free(d->buf);
	d->buf = NULL;
	if (err) {
		sv_sendq_lost(&d->q, 1, d->cur.records, d->cur.packets);
		if (sv_ratelimit(&d->lost_logged_ns, sv_mono_now_ns()))
			sv_locked_log(pr_warn, "cannot spool a batch of %llu records in %s: %s\n",
				      d->cur.records, d->spool, strerror(-err));
		free(b);
		return;
	}
	sv_sendq_append(&d->q, &b->it);
}

int sv_deliver_flow(void *ctx, const struct sv_flow_key *k, const struct sv_rec *r)
{
	struct sv_deliver *d = ctx;

	if (!d->f && begin_batch(d)) {
		sv_sendq_lost(&d->q, 0, 1, r->packets);
		return 0;
	}
	sv_output_flow(&d->out, k, r);
	d->cur.records++;
	d->cur.packets += r->packets;
	if (ftell(d->f) > (long)(d->batch_max - REC_MAX))
		seal_batch(d);
	return 0;
}

void sv_deliver_fp(struct sv_deliver *d, const struct sv_fp_event *e, __u64 wall_ns)
{
	if (!d->f && begin_batch(d)) {
		sv_sendq_lost(&d->q, 0, 1, 0);
		return;
	}
	sv_output_fp(&d->out, e, wall_ns);
	d->cur.records++;
	if (ftell(d->f) > (long)(d->batch_max - REC_MAX))
		seal_batch(d);
}

void sv_deliver_end(struct sv_deliver *d)
{
	if (d->f)
		seal_batch(d);
}

int sv_deliver_endpoints(const struct sv_deliver *d, struct sv_post_endpoint *ep)
{
	int i;

	for (i = 0; i < d->n_posts; i++)
		ep[i] = (struct sv_post_endpoint){ .url = d->posts[i].url,
						   .unix_path = d->posts[i].unix_path,
						   .auth = d->auth,
						   .ca_file = d->ca_file,
						   .shown = d->posts[i].shown };
	return d->n_posts;
}

void sv_deliver_freeze_ifaces(struct sv_deliver *d)
{
	if (d)
		d->ifaces_frozen = 1;
}

/* --- sending (the sender thread) --------------------------------------------------- */

static int curl_setup(struct sv_sendq *q, struct sv_curl *h)
{
	struct sv_deliver *d = q->ctx;
	const char *hdrs[] = {
		"Content-Type: application/x-ndjson",
		"Expect:", /* no 100-continue round trip */
		d->auth,
		NULL,
	};
	char ua[64];

	snprintf(ua, sizeof(ua), "sitevisor-agent/%s", d->version);
	if (sv_curl_init(h, d->url, hdrs, ua, &q->abort)) {
		sv_locked_log(pr_warn, "cannot set up libcurl: batches stay in the spool\n");
		return -ENOMEM;
	}
	if (d->unix_path)
		sv_curl_unix(h, d->unix_path);
	if (d->ca_file)
		curl_easy_setopt(h->c, CURLOPT_CAINFO, d->ca_file);
	return 0;
}

static int read_batch(struct sv_deliver *d, const char *name, char **out, size_t *len)
{
	char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd = openat(d->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		err = -errno;
	else if (!(buf = malloc(st.st_size + 1)))
		err = -ENOMEM;
	while (!err && got < (size_t)st.st_size) {
		r = read(fd, buf + got, st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			err = r < 0 ? -errno : -EIO; /* shorter than it was a moment ago */
		else
			got += r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = got;
	return 0;
}

/* Posts body to the post that last answered, else to each of the others in turn: the first
 * that answers (without a 5xx: a post whose store is down is no better than none) is the one
 * the next batches go to. A batch whose answer was lost may so reach two posts: the store
 * keeps it once (docs/scale-out.md). */
static int post_any(struct sv_sendq *q, struct sv_curl *h, const char *body, size_t len,
		    enum sv_sendq_outcome *o)
{
	struct sv_deliver *d = q->ctx;
	int i, p, answered = 0;

	for (i = 0; i < d->n_posts; i++) {
		p = (d->cur_post + i) % d->n_posts;
		if (d->n_posts > 1) {
			curl_easy_setopt(h->c, CURLOPT_URL, d->posts[p].url);
			curl_easy_setopt(h->c, CURLOPT_UNIX_SOCKET_PATH, d->posts[p].unix_path);
			h->unix_socket = d->posts[p].unix_path != NULL;
		}
		answered = sv_sendq_post(q, h, body, len, o);
		if (answered && h->status < 500) {
			d->cur_post = p;
			break;
		}
		if (__atomic_load_n(&q->abort, __ATOMIC_RELAXED))
			break;
	}
	return answered;
}

/* The post stores a batch but refuses its records dated more than an hour ahead of its clock
 * or older than its retention (docs/security.md): said here, or a box whose clock is wrong
 * would lose them without a word. */
static void say_out_of_range(const struct sv_deliver *d, const char *batch, const char *resp)
{
	const char *p = strstr(resp, "\"out_of_range\":");
	unsigned long long n = p ? strtoull(p + strlen("\"out_of_range\":"), NULL, 10) : 0;

	if (n)
		pr_warn("post %s refused %llu records of batch %s: dated more than an hour ahead of "
			"its clock or older than its retention; check this box's clock\n",
			d->shown, n, batch);
}

static enum sv_sendq_outcome send_batch(struct sv_sendq *q, struct sv_curl *h,
					struct sv_sendq_item *it)
{
	struct batch *b = sv_sendq_entry(it, struct batch, it);
	enum sv_sendq_outcome o;
	char *body = NULL;
	size_t len = 0;
	int err = read_batch(q->ctx, b->name, &body, &len), answered;

	if (err) {
		snprintf(q->why, sizeof(q->why), "cannot read it: %s", strerror(-err));
		return SV_SENDQ_UNREADABLE;
	}
	answered = post_any(q, h, body, len, &o);
	free(body);
	if (!answered)
		return o;
	pr_debug("batch %s: %s\n", b->name, q->why);
	if (h->status >= 200 && h->status < 300) {
		say_out_of_range(q->ctx, b->name, h->resp);
		return strstr(h->resp, "\"duplicate\":true") ? SV_SENDQ_DUPLICATE : SV_SENDQ_SENT;
	}
	if (h->status == 400 || h->status == 413)
		return SV_SENDQ_REFUSED; /* it will never be accepted: retrying would block the rest */
	if (h->status == 401 || h->status == 403)
		return SV_SENDQ_BAD_TOKEN;
	return SV_SENDQ_FAILED;
}

/* Delivered, refused or dropped: the spool forgets it. */
static void forget_batch(struct sv_sendq *q, struct sv_sendq_item *it)
{
	struct sv_deliver *d = q->ctx;

	unlinkat(d->dir_fd, sv_sendq_entry(it, struct batch, it)->name, 0);
}

static void free_batch(struct sv_sendq_item *it)
{
	free(sv_sendq_entry(it, struct batch, it));
}

/* One line when trouble starts and one when it ends; each batch dropped is named. */
static void say(struct sv_sendq *q, enum sv_sendq_news what, const struct sv_sendq_item *it,
		unsigned long long now)
{
	struct sv_deliver *d = q->ctx;
	const struct sv_sendq_counts *c = &q->dropped_unsaid;

	switch (what) {
	case SV_SENDQ_BACK:
		pr_info("post %s accepts batches again after %llu s; %u waiting\n", d->shown,
			(now - q->down_since_ns) / NS_PER_SEC, q->n - 1);
		break;
	case SV_SENDQ_DOWN:
		pr_warn("post %s unreachable: %s; retrying, batches kept in the spool\n", d->shown,
			q->why);
		break;
	case SV_SENDQ_TOKEN:
		pr_warn("post %s refuses our token (%s); %u batches kept in the spool\n", d->shown,
			q->why, q->n);
		break;
	case SV_SENDQ_GONE:
		pr_warn("batch %s dropped, %llu records (%llu packets): %s\n",
			sv_sendq_entry(it, const struct batch, it)->name, it->records, it->packets,
			q->why);
		break;
	case SV_SENDQ_FULL:
		pr_warn("spool %s full (%zu MiB): dropped the %llu oldest undelivered batches, %llu "
			"records (%llu packets)\n",
			d->spool, q->max >> 20, c->items, c->records, c->packets);
		break;
	}
}

static const struct sv_sendq_ops post_ops = {
	.curl_setup = curl_setup,
	.send = send_batch,
	.forget = forget_batch,
	.free = free_batch,
	.say = say,
	.thread_name = "sender thread",
};

int sv_deliver_start(struct sv_deliver *d)
{
	int err = sv_sendq_start(&d->q);

	if (!err)
		pr_info("delivering to %s; spool %s (at most %zu MiB)\n", d->shown, d->spool,
			d->q.max >> 20);
	return err;
}

/* --- the end ------------------------------------------------------------------------ */

static void drain(struct sv_deliver *d)
{
	unsigned int n;

	pthread_mutex_lock(&d->q.lock);
	n = d->q.n;
	pthread_mutex_unlock(&d->q.lock);
	if (n && d->q.drain_timeout)
		pr_info("sending the last %u batches (at most %u s)\n", n, d->q.drain_timeout);
	sv_sendq_drain(&d->q);
}

static void summary(struct sv_deliver *d)
{
	struct sv_sendq *q = &d->q;
	unsigned long long left = sv_sendq_left(q);
	int trouble = q->dropped.records || q->refused.records || q->lost.records || q->n;

	sv_log(trouble ? SV_LOG_WARN : SV_LOG_INFO,
	       "post: %llu batches delivered (%llu records, %llu packets), %llu of them "
	       "duplicates; %llu records dropped (spool full), %llu packets in them; %llu records "
	       "refused by the post; %llu records not spooled; %u batches (%llu records) remain "
	       "in the spool %s\n",
	       q->sent.items, q->sent.records, q->sent.packets, q->duplicates, q->dropped.records,
	       q->dropped.packets, q->refused.records, q->lost.records, q->n, left, d->spool);
}

void sv_deliver_close(struct sv_deliver *d)
{
	if (!d)
		return;
	if (d->f) {
		fclose(d->f);
		free(d->buf);
	}
	if (d->q.started) {
		drain(d);
		sv_sendq_say_dropped(&d->q);
		summary(d);
	}
	sv_sendq_destroy(&d->q);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->dir_fd >= 0)
		close(d->dir_fd);
	free(d->shown);
	for (int i = 0; i < d->n_posts; i++) {
		free(d->posts[i].url);
		free(d->posts[i].unix_path);
	}
	free(d->auth);
	free(d->ca_file);
	free(d);
}

void sv_deliver_stats(struct sv_deliver *d, struct sv_deliver_stats *st)
{
	struct sv_sendq *q = &d->q;

	pthread_mutex_lock(&q->lock);
	st->spool_batches = q->n;
	st->spool_bytes = q->bytes;
	st->delivered_records = q->sent.records;
	st->dropped_records = q->dropped.records + q->lost.records;
	st->rejected_records = q->refused.records;
	st->duplicates = q->duplicates;
	st->failures = q->failures;
	pthread_mutex_unlock(&q->lock);
}
