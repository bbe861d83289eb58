// SPDX-License-Identifier: GPL-2.0
// Human units for the dashboard: SI prefixes (kB = 1000 B, as link rates are counted),
// protocol names, local times. Pure functions, no DOM.

const SI = ['', 'k', 'M', 'G', 'T', 'P'];

// Three significant digits are enough to compare rates at a glance.
function si(v, unit, sep = ' ') {
	if (v == null || !Number.isFinite(v)) return '–';
	let i = 0;
	let x = Math.abs(v);
	while (x >= 999.5 && i < SI.length - 1) {
		x /= 1000;
		i++;
	}
	const digits = i === 0 && Number.isInteger(v) ? 0 : x < 10 ? 2 : x < 100 ? 1 : 0;
	return (v < 0 ? '-' : '') + x.toFixed(digits) + sep + SI[i] + unit;
}

export const fmtBytes = (n) => si(n, 'B');
export const fmtBits = (bps) => si(bps, 'bit/s');
export const fmtPps = (pps) => si(pps, 'pps');
export const fmtCount = (n) => (n == null ? '–' : Number(n).toLocaleString('en-US'));

// Short tick labels for chart axes: "12M" rather than "12.0 Mbit/s".
export function fmtShort(v) {
	if (v === 0) return '0';
	// Trailing zeros after the point carry nothing on an axis: 2.50M -> 2.5M, 10.0k -> 10k.
	return si(v, '', '').replace(/(\.\d*?)0+(?=\D|$)/, '$1').replace(/\.(?=\D|$)/, '');
}

const PROTOCOLS = {
	1: 'ICMP', 2: 'IGMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 41: 'IPv6', 47: 'GRE', 50: 'ESP',
	51: 'AH', 58: 'ICMPv6', 89: 'OSPF', 103: 'PIM', 112: 'VRRP', 132: 'SCTP',
};
const ETH_TYPES = { 0x0806: 'ARP', 0x8035: 'RARP', 0x88cc: 'LLDP', 0x8809: 'LACP', 0x88f7: 'PTP' };

export function protoName(p) {
	return PROTOCOLS[p] || String(p);
}

// What a flow carries: the IP protocol, or the ethertype for non-IP frames.
export function flowProto(f) {
	if (!f.ip_version) {
		const t = f.eth_type;
		return ETH_TYPES[t] || (t ? '0x' + t.toString(16).padStart(4, '0') : '802.3');
	}
	return protoName(f.protocol);
}

export function hasPorts(protocol) {
	return protocol === 6 || protocol === 17 || protocol === 132;
}

// "[2001:db8::1]:443" for IPv6, "198.18.0.1:443" for IPv4, the bare address without a port.
export function addrPort(addr, port) {
	if (addr == null) return '–';
	if (!port) return addr;
	return (addr.includes(':') ? `[${addr}]` : addr) + ':' + port;
}

const pad = (n) => String(n).padStart(2, '0');

// Local wall-clock time; the date only when it is not today.
export function fmtTime(ms) {
	if (!ms) return '–';
	const d = new Date(ms);
	const now = new Date();
	const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
	if (d.toDateString() === now.toDateString()) return hms;
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

export function fmtDateTime(ms) {
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
		`${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(ms, now = Date.now()) {
	const s = Math.round((now - ms) / 1000);
	if (s < 2) return 'just now';
	if (s < 60) return `${s} s ago`;
	if (s < 3600) return `${Math.floor(s / 60)} min ago`;
	if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

export function fmtDuration(ns) {
	const s = ns / 1e9;
	if (s < 1) return `${Math.round(s * 1000)} ms`;
	if (s < 60) return `${s.toFixed(1)} s`;
	if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
	return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// TCP flags as letters in wire order (CWR ECE URG ACK PSH RST SYN FIN).
export function tcpFlags(f) {
	if (!f) return '';
	const names = ['F', 'S', 'R', 'P', 'A', 'U', 'E', 'C'];
	let s = '';
	for (let i = 7; i >= 0; i--) if (f & (1 << i)) s += names[i];
	return s;
}

// Ranges the views offer, in seconds.
export const RANGES = [
	['15m', '15 min', 900],
	['1h', '1 h', 3600],
	['6h', '6 h', 21600],
	['24h', '24 h', 86400],
];

export function rangeSeconds(key, def = 3600) {
	const r = RANGES.find((x) => x[0] === key);
	return r ? r[2] : def;
}
