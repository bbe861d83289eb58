#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Every #include "..." in src/ names a header of the includer's own folder or of a layer below
# it, low to high: include -> lib -> export -> store -> api -> the programs agent and post,
# whose headers only they include (src/agent/tap is the agent's; bpf is the kernel's). A
# *_int.h header is private to its folder. The Makefile's include paths follow the same order.
# Prints FAIL: lines for what breaks it and one PASS: line otherwise, like the tests.
set -u
cd "$(dirname "$0")/.."

layers=(include lib export store api)
# Known violations, "FOLDER HEADER", each with a comment that says why it is allowed and a
# twin in the Makefile's include paths. None today: keep it so.
exceptions=()

# A folder's rank: its place in layers; a program (agent, post, bpf) ranks above them all.
declare -A rank=()
for i in "${!layers[@]}"; do
	rank[${layers[$i]}]=$i
done
declare -A exception=()
for e in "${exceptions[@]}"; do
	exception[$e]=1
done

# May a file of folder $1 include a header of folder $2 (top folders under src/)?
allowed() {
	[ "$1" = "$2" ] || [ "${rank[$2]:-99}" -lt "${rank[$1]:-99}" ]
}

mapfile -t dirs < <(find src -type d | sort)
failed=0 files=0 includes=0
declare -A used=()

while IFS= read -r f; do
	files=$((files + 1))
	from=${f#src/} from=${from%%/*}
	while IFS= read -r name; do
		includes=$((includes + 1))
		# The header the compiler takes: the includer's folder first, then any folder.
		hit=
		if [ -f "${f%/*}/$name" ]; then
			hit=${f%/*}/$name
		else
			for d in "${dirs[@]}"; do
				[ -f "$d/$name" ] || continue
				hit=$d/$name
				to=${hit#src/} to=${to%%/*}
				allowed "$from" "$to" && break
			done
		fi
		[ -n "$hit" ] || continue # generated (a BPF skeleton) or the system's
		to=${hit#src/} to=${to%%/*}
		if [[ $name == *_int.h ]] && [ "${hit%/*}" != "${f%/*}" ]; then
			echo "FAIL: $f includes $hit, private to its folder"
			failed=$((failed + 1))
		elif ! allowed "$from" "$to"; then
			if [ -n "${exception[$from ${name##*/}]:-}" ]; then
				used[$from ${name##*/}]=1
				continue
			fi
			echo "FAIL: $f includes $hit: $to is not below $from"
			failed=$((failed + 1))
		fi
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.[ch]' | sort)

for e in "${exceptions[@]}"; do
	[ -n "${used[$e]:-}" ] ||
		echo "note: the exception '$e' matched nothing: delete it here and in the Makefile"
done
if [ "$failed" -eq 0 ]; then
	echo "PASS: includes follow the layers ($files files, $includes includes," \
	     "${#used[@]} known exceptions)"
fi
[ "$failed" -eq 0 ]
