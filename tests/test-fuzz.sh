#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# A short fuzzing run of the post's network parsers on every check, so a crash introduced by
# a change shows up in CI; `make fuzz` runs longer.
exec bash "$(dirname "$0")/fuzz/run.sh" "${FUZZ_SECONDS:-15}"
