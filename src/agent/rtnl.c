// SPDX-License-Identifier: GPL-2.0
/* Small rtnetlink requests (rtnl.h). */
#include "rtnl.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

void *sv_nl_start(struct sv_nlreq *r, unsigned short type, unsigned short flags, size_t hdr)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(hdr);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = flags;
	return NLMSG_DATA(&r->h);
}

struct rtattr *sv_nl_attr(struct sv_nlreq *r, unsigned short type, const void *data,
			  unsigned short len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
	return a;
}

void sv_nl_end(struct sv_nlreq *r, struct rtattr *nest)
{
	nest->rta_len = (char *)r + r->h.nlmsg_len - (char *)nest;
}

const struct rtattr *sv_nl_find(const struct rtattr *a, int len, unsigned short type)
{
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
		if ((a->rta_type & NLA_TYPE_MASK) == type)
			return a;
	return NULL;
}

/* Runs the exchange: fn sees every answer that is not an error or the end. */
static int exchange(struct sv_nlreq *r, int (*fn)(const struct nlmsghdr *h, void *arg),
		    void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[32768];
	struct nlmsghdr *h;
	int fd, err = -EIO;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	r->h.nlmsg_flags |= NLM_F_REQUEST;
	r->h.nlmsg_seq = 1;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			err = -errno;
			goto out;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				err = 0;
				goto out;
			}
			err = fn(h, arg);
			if (err)
				goto out;
		}
	}
out:
	close(fd);
	return err;
}

struct first {
	void *buf;
	size_t size;
};

static int keep_first(const struct nlmsghdr *h, void *arg)
{
	struct first *f = arg;

	if (f->buf && h->nlmsg_len <= f->size) {
		memcpy(f->buf, h, h->nlmsg_len);
		f->buf = NULL;
	}
	return 0;
}

int sv_nl_talk(struct sv_nlreq *r, void *reply, size_t size)
{
	struct first f = { reply, size };

	r->h.nlmsg_flags |= NLM_F_ACK;
	return exchange(r, keep_first, &f);
}

int sv_nl_dump(struct sv_nlreq *r, int (*fn)(const struct nlmsghdr *h, void *arg), void *arg)
{
	r->h.nlmsg_flags |= NLM_F_DUMP;
	return exchange(r, fn, arg);
}
