#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Writes a man page to stdout: the prose of TEMPLATE with each "@OPTIONS [COMMAND]@" line
# replaced by PROGRAM's (or its COMMAND's) option table as roff, so the page cannot drift
# from --help. Usage: scripts/man.sh TEMPLATE PROGRAM VERSION
set -euo pipefail
template=$1 prog=$2 version=$3
# The page's date: SOURCE_DATE_EPOCH (reproducible builds), else the template's last commit.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- "$template" 2>/dev/null || true)}
date=$(date -u -d "@${epoch:-$(date +%s)}" +%Y-%m-%d)
while IFS= read -r line; do
	case $line in
	@OPTIONS*@)
		cmd=${line#@OPTIONS}
		cmd=${cmd%@}
		# shellcheck disable=SC2086 # the command is one word or none
		"$prog" $cmd --help-roff
		;;
	*)
		line=${line//@VERSION@/$version}
		printf '%s\n' "${line//@DATE@/$date}"
		;;
	esac
done <"$template"
