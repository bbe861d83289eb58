# SPDX-License-Identifier: GPL-2.0
# ClickHouse servers for the tests, sourced after lib.sh: ch_start N starts N servers on
# loopback ports, each with its config, data, logs and users in $SV_TMP/chK, all of them in one
# cluster "sv" of N shards (no replicas, so no ZooKeeper); they stop by PID with the test.
# CH_HTTP[k] is server k's HTTP port; CH_STORE is the post's --store options for all of them.

CH_HTTP=()
CH_PID=()

# ch_config DIR HTTP TCP: the server's config.xml, the cluster listing every server started.
ch_config() {
	local dir=$1 http=$2 tcp=$3 k shards=""
	for k in "${!CH_TCP[@]}"; do
		shards+="<shard><replica><host>127.0.0.1</host><port>${CH_TCP[$k]}</port></replica></shard>"
	done
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log>
    <errorlog>$dir/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <remote_servers><sv>$shards</sv></remote_servers>
</yandex>
EOF
	cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <sv><password>sv-secret</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></sv>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
EOF
}

# ch_up K: starts server K (configured by ch_start) and waits until it answers.
ch_up() {
	local k=$1 dir=$SV_TMP/ch$1
	clickhouse-server --config-file="$dir/config.xml" >>"$dir/log/stdout" 2>&1 &
	CH_PID[$k]=$!
	SV_PIDS+=("${CH_PID[$k]}")
	# Ours answers: another run's server that took the port first would answer the ping
	# while ours exits, unable to listen.
	wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:${CH_HTTP[$k]}/ping" &&
		kill -0 "${CH_PID[$k]}" 2>/dev/null || {
		tail -n 5 "$dir/log/error.log" "$dir/log/stdout" >&2
		return 1
	}
}

# ch_down K: stops server K by its PID and waits until it is gone.
ch_down() {
	stop_pid "${CH_PID[$1]}"
}

# ch_start N: N servers, ports from a base of our run id, one cluster "sv" over them; above
# the kernel's ephemeral ports (32768-60999), which a connection of anyone's may hold.
ch_start() {
	local n=$1 k try base
	command -v clickhouse-server >/dev/null || return 1
	# A base none of whose ports anyone listens on: runs share the machine.
	for ((try = 0; try < 400; try++)); do
		base=$((61000 + (($$ + 37 * try) % 400) * 10))
		[ -z "$(ss -Hltn "( sport >= :$base and sport < :$((base + 2 * n)) )")" ] && break
	done
	CH_TCP=()
	for ((k = 0; k < n; k++)); do
		CH_HTTP[$k]=$((base + 2 * k))
		CH_TCP[$k]=$((base + 2 * k + 1))
	done
	CH_STORE=()
	for ((k = 0; k < n; k++)); do
		mkdir -p "$SV_TMP/ch$k/log"
		ch_config "$SV_TMP/ch$k" "${CH_HTTP[$k]}" "${CH_TCP[$k]}"
		CH_STORE+=(--store "clickhouse://127.0.0.1:${CH_HTTP[$k]}/sv")
		ch_up "$k" || return 1
	done
	[ "$n" -gt 1 ] && CH_STORE+=(--store-cluster sv)
	return 0
}

# ch_query K SQL: runs SQL on server K over HTTP, prints the answer.
ch_query() {
	curl -sS --data-binary "$2" "http://127.0.0.1:${CH_HTTP[$1]}/"
}
