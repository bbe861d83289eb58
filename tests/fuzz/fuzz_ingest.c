// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target for everything the post parses from the network: ingest bodies (NDJSON
 * batches through the JSON reader and the record validator) and query-string times. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ingest.h"
#include "timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv_batch b;
	char err[256], *s;
	int64_t ns;

	sv_ingest_parse((const char *)data, size, &b, err, sizeof(err));
	sv_batch_free(&b);
	/* The same bytes as a query parameter (NUL-terminated, as libmicrohttpd gives it). */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	sv_parse_time(s, &ns);
	free(s);
	return 0;
}
