// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target for the IPFIX / NetFlow v9 parser. An input is a sequence of messages, so
 * templates learnt from one shape how the next ones are read:
 *   [selector: 1 byte][length: 2 bytes, big endian][message: length bytes] ...
 * The selector's low 2 bits pick one of four exporters (two addresses, two ports), its high
 * 4 bits advance the clock by that many minutes so templates can age out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ipfix_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_ipfix_src src[4] = { 0 };
	struct sv_ipfix_stats st = { 0 };
	struct sv_ipfix_cache *c;
	struct sv_ipfix_hdr hdr;
	struct sv_batch b = { 0 };
	int64_t now = 1795320000LL * 1000000000LL;
	size_t len, i;

	for (i = 0; i < 4; i++) {
		src[i].addr[10] = src[i].addr[11] = 0xff;
		src[i].addr[12] = 198;
		src[i].addr[13] = 18;
		src[i].addr[15] = 5 + (i & 1);
		src[i].port = 2055 + (i >> 1);
	}
	if (sv_ipfix_cache_new(&c))
		return 0;
	while (size >= 3) {
		len = (size_t)data[1] << 8 | data[2];
		if (len > size - 3)
			len = size - 3;
		now += (int64_t)(data[0] >> 4) * 60 * 1000000000LL;
		sv_ipfix_parse(c, &src[data[0] & 3], data + 3, len, now, &hdr, &b, &st);
		/* Every record must be one the store takes. */
		for (i = 0; i < b.n; i++)
			if (!b.recs[i].last_ns || b.recs[i].first_ns > b.recs[i].last_ns ||
			    b.recs[i].direction > 1 || !b.recs[i].iface[0])
				abort();
		data += 3 + len;
		size -= 3 + len;
	}
	sv_ipfix_cache_free(c);
	free(b.recs);
	return 0;
}
