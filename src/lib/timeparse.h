/* SPDX-License-Identifier: GPL-2.0 */
/* Times as people and programs write them in queries: RFC 3339 or epoch seconds. */
#ifndef SV_TIMEPARSE_H
#define SV_TIMEPARSE_H

#include <stdint.h>
#include <stddef.h>

/* "2026-11-22T04:00:00Z", "2026-11-22T04:00:00.5+01:00" or "1795320000[.5]" into ns since
 * the epoch. 0 on success, -EINVAL otherwise. */
int sv_parse_time(const char *s, int64_t *ns);
/* RFC 3339 UTC with seconds: "2026-11-22T04:00:00Z". */
void sv_format_time(int64_t ns, char *buf, size_t len);
int64_t sv_now_ns(void);

#endif /* SV_TIMEPARSE_H */
