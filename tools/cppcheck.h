/* SPDX-License-Identifier: GPL-2.0 */
/* What cppcheck needs to know of system macros it does not read (make lint includes this). */
#define LIBBPF_OPTS(TYPE, NAME, ...) struct TYPE NAME = { __VA_ARGS__ }
