# SPDX-License-Identifier: GPL-2.0
# The benchmarks' query latency, sourced by bench/post.sh and bench/clickhouse.sh:
# lat NAME PATH: 40 requests to $URL$PATH after 3 warm-ups; prints p50 and p99 in ms.
lat() {
	local name=$1 path=$2 i
	for i in 1 2 3; do curl -s -o /dev/null "$URL$path"; done
	for i in $(seq 1 40); do
		curl -s -o /dev/null -w '%{time_total}\n' "$URL$path"
	done | sort -n | awk -v name="$name" -v items="$(curl -s "$URL$path" | jq '(.items // .points // .flows) | length')" '
		{ v[NR] = $1 * 1000 }
		END { p50 = int(NR * 0.5 + 0.5); p99 = int(NR * 0.99 + 0.5)
		      printf "%-42s %8.1f %8.1f %8s\n", name, v[p50], v[p99], items }'
}
