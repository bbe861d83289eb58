#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs every Debian package the build, tests and benchmarks need. Idempotent: packages
# already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

pkgs=(
	# build
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev pkg-config
	libpcap-dev libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev
	# dashboard build and browser tests (node may come from elsewhere; see below)
	chromium sqlite3 curl openssl
	# tests and benchmarks
	iproute2 iputils-ping jq tcpdump tshark tcpreplay softflowd procps util-linux ethtool nftables
	bsdextrautils nmap hping3 iperf3 dnsmasq-base bind9-dnsutils
	# the ClickHouse store's tests and benchmark start their own servers (issue 14)
	clickhouse-server clickhouse-client
	# the real programs on the other side of each exit: flow collectors and exporters,
	# InfluxDB, Prometheus (promtool), systemd (unit checks)
	nfdump softflowd influxdb influxdb-client prometheus systemd python3-yaml
	# make deb and its test: Debian's packaging tools, lintian, man pages
	debhelper dpkg-dev lintian adduser man-db groff-base
)

# Node.js: the machine's own if it has one, Debian's otherwise.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages (${missing[*]}); run 'make deps' as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
