// SPDX-License-Identifier: GPL-2.0
/* pcapng writer; see pcapng.h. Blocks are written in host byte order, which the section
 * header's byte-order magic announces (readers swap as needed). Reference: the pcapng
 * specification (draft-ietf-opsawg-pcapng). */
#define _GNU_SOURCE /* fwrite_unlocked: one writer per stream, and it is per packet */
#include "pcapng.h"
#include <errno.h>
#include <string.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define LINKTYPE_ETHERNET 1
#define OPT_END 0
#define OPT_SHB_USERAPPL 4
#define OPT_IF_NAME 2
#define OPT_IF_TSRESOL 9
#define OPT_EPB_FLAGS 2

#define PAD4(n) (((n) + 3u) & ~3u)

static int put(struct sv_pcapng *w, const void *p, size_t n)
{
	if (w->err)
		return -w->err;
	if (n && fwrite_unlocked(p, 1, n, w->f) != n) {
		w->err = errno ? errno : EIO;
		return -w->err;
	}
	return 0;
}

static int put32(struct sv_pcapng *w, uint32_t v)
{
	return put(w, &v, 4);
}

static int put_pad(struct sv_pcapng *w, size_t n)
{
	static const char zero[4];

	return put(w, zero, PAD4(n) - n);
}

/* An option: code, length, value, padding. */
static int put_opt(struct sv_pcapng *w, uint16_t code, const void *v, uint16_t len)
{
	uint16_t h[2] = { code, len };

	put(w, h, 4);
	put(w, v, len);
	return put_pad(w, len);
}

static uint32_t opt_size(size_t len)
{
	return 4 + PAD4(len);
}

int sv_pcapng_start(struct sv_pcapng *w, FILE *f, const char *appl)
{
	uint32_t total = 28 + opt_size(strlen(appl)) + 4;
	uint16_t version[2] = { 1, 0 };
	uint64_t section_len = ~0ull; /* unknown: written as a stream */

	w->f = f;
	w->n_ifaces = 0;
	w->err = 0;
	put32(w, BT_SHB);
	put32(w, total);
	put32(w, BYTE_ORDER_MAGIC);
	put(w, version, 4);
	put(w, &section_len, 8);
	put_opt(w, OPT_SHB_USERAPPL, appl, strlen(appl));
	put_opt(w, OPT_END, NULL, 0);
	return put32(w, total);
}

int sv_pcapng_iface(struct sv_pcapng *w, const char *name, uint32_t snaplen)
{
	uint8_t tsresol = 9; /* 10^-9 s: nanoseconds */
	uint16_t link[2] = { LINKTYPE_ETHERNET, 0 };
	uint32_t total = 16 + opt_size(strlen(name)) + opt_size(1) + 4 + 4;
	int err;

	put32(w, BT_IDB);
	put32(w, total);
	put(w, link, 4);
	put32(w, snaplen);
	put_opt(w, OPT_IF_NAME, name, strlen(name));
	put_opt(w, OPT_IF_TSRESOL, &tsresol, 1);
	put_opt(w, OPT_END, NULL, 0);
	err = put32(w, total);
	return err ? err : (int)w->n_ifaces++;
}

int sv_pcapng_packet(struct sv_pcapng *w, uint32_t iface, uint64_t ts_ns, const struct iovec *iov,
		     int iovcnt, uint32_t origlen, enum sv_pcapng_dir dir)
{
	uint32_t caplen = 0, total, head[7];
	unsigned char tail[3 + 16];
	size_t pad, nt;
	int i;

	for (i = 0; i < iovcnt; i++)
		caplen += iov[i].iov_len;
	total = 28 + PAD4(caplen) + (dir ? opt_size(4) + 4 : 0) + 4;
	head[0] = BT_EPB;
	head[1] = total;
	head[2] = iface;
	head[3] = ts_ns >> 32;
	head[4] = (uint32_t)ts_ns;
	head[5] = caplen;
	head[6] = origlen;
	put(w, head, sizeof(head));
	for (i = 0; i < iovcnt; i++)
		put(w, iov[i].iov_base, iov[i].iov_len);
	/* The rest in one write: padding, epb_flags, end of options, the length again. */
	pad = PAD4(caplen) - caplen;
	memset(tail, 0, pad);
	nt = pad;
	if (dir) {
		uint16_t opt[2] = { OPT_EPB_FLAGS, 4 };
		uint32_t flags = dir, end = OPT_END;

		memcpy(tail + nt, opt, 4);
		memcpy(tail + nt + 4, &flags, 4);
		memcpy(tail + nt + 8, &end, 4);
		nt += 12;
	}
	memcpy(tail + nt, &total, 4);
	return put(w, tail, nt + 4);
}

int sv_pcapng_flush(struct sv_pcapng *w)
{
	if (!w->err && fflush(w->f))
		w->err = errno ? errno : EIO;
	return -w->err;
}
