/* SPDX-License-Identifier: GPL-2.0 */
/* A pcapng writer (the format tshark, tcpdump, Zeek and Suricata read): one section, one
 * interface block per interface, enhanced packet blocks with nanosecond timestamps and the
 * direction in epb_flags. Writes through stdio; the caller decides when to flush. */
#ifndef SV_PCAPNG_H
#define SV_PCAPNG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

struct sv_pcapng {
	FILE *f;
	uint32_t n_ifaces;
	int err; /* an errno of a failed write; everything after it is dropped */
};

enum sv_pcapng_dir {
	SV_PCAPNG_DIR_UNKNOWN = 0,
	SV_PCAPNG_DIR_IN = 1,
	SV_PCAPNG_DIR_OUT = 2,
};

/* Writes the section header block; appl names the writing application. */
int sv_pcapng_start(struct sv_pcapng *w, FILE *f, const char *appl);
/* An Ethernet interface description block (if_name, if_tsresol 9); returns its interface
 * id (0, 1, ... in call order) or a negative errno. */
int sv_pcapng_iface(struct sv_pcapng *w, const char *name, uint32_t snaplen);
/* One enhanced packet block: the captured bytes are the iovecs' concatenation. */
int sv_pcapng_packet(struct sv_pcapng *w, uint32_t iface, uint64_t ts_ns, const struct iovec *iov,
		     int iovcnt, uint32_t origlen, enum sv_pcapng_dir dir);
int sv_pcapng_flush(struct sv_pcapng *w);

#endif /* SV_PCAPNG_H */
