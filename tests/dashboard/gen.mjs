// SPDX-License-Identifier: GPL-2.0
// Flow records for the dashboard test: four boxes of a made-up site (edge routers, a core
// switch, a VM host with VXLAN overlays) posted to a sitevisor-post as agents would.
//
//   node gen.mjs --url http://127.0.0.1:PORT --token TOKEN --history   the last 30 minutes
//   node gen.mjs --url ... --token ... --live SECONDS                   new records every second
//
// Seeded, so every run stores the same history. Facts the test relies on (exported for it):
// the biggest source is 198.18.1.10; 203.0.113.77 appears in exactly 37 history records,
// all UDP on edge-fra-1; VNIs 100 and 200 carry traffic. Addresses are documentation ranges only.

export const BOXES = {
	'edge-ams-1': ['eth0', 'eth1', 'vxlan100'],
	'edge-fra-1': ['eth0', 'eth1'],
	'core-sw-1': ['bond0', 'eth2', 'eth3'],
	'vmhost-1': ['eth0', 'br0', 'tap3'],
};
export const TOP_SRC = '198.18.1.10';
export const SPECIAL_ADDR = '203.0.113.77';
export const SPECIAL_COUNT = 37;
export const VNIS = [100, 200];
// Attacks for the detector: in the history a port scan (30 ports, seen by two boxes) and a
// host sweep (25 hosts); attack() adds a SYN flood when the test asks for it.
export const SCANNER = '198.51.100.66', SCAN_TARGET = '198.18.10.5', SCAN_PORTS = 30;
export const SWEEPER = '198.51.100.67', SWEEP_HOSTS = 25;
export const FLOODER = '198.51.100.68', FLOOD_TARGET = '198.18.11.5';

// Trajectory fingerprints (docs/paths.md): PATH_PACKETS sampled packets of PATH_FLOW crossed
// the boxes of PATH_WAY; every tenth was dropped inside core-sw-1 (seen arriving on eth2,
// never leaving on eth3).
export const PATH_FLOW = { src_addr: '198.18.10.5', dst_addr: '198.18.2.20', protocol: 17, src_port: 40000, dst_port: 7000 };
export const PATH_WAY = [['edge-ams-1', 'eth1', 'egress'], ['core-sw-1', 'eth2', 'ingress'],
	['core-sw-1', 'eth3', 'egress'], ['vmhost-1', 'eth0', 'ingress']];
export const PATH_PACKETS = 100;
export const PATH_LOST = 10;

const TCP = 6, UDP = 17, ICMP = 1;

// mulberry32: small, seeded, good enough for traffic shapes.
function rng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// Conversations per box: [iface, direction, proto, src, dst, dport, bytes range, extra];
// a negative dport is a reply from that port to an ephemeral one.
const CONV = {
	'edge-ams-1': [
		['eth0', 'ingress', TCP, '203.0.113.10', '198.18.10.5', 443, [40e3, 2e6]],
		['eth0', 'egress', TCP, '198.18.10.5', '203.0.113.10', -443, [200e3, 8e6]],
		['eth0', 'ingress', TCP, '2001:db8:aa::10', '2001:db8:10::5', 443, [30e3, 1e6]],
		['eth1', 'egress', UDP, '198.18.10.7', '198.51.100.53', 53, [80, 600]],
		['eth1', 'ingress', ICMP, '198.18.20.2', '198.18.10.2', 0, [84, 840], { icmp: [0, 0] }],
		['eth1', 'egress', ICMP, '198.18.10.2', '198.18.20.2', 0, [84, 840], { icmp: [8, 0] }],
		['eth1', 'ingress', TCP, '198.18.100.1', '198.18.100.2', 5432, [20e3, 900e3],
			{ vni: 100, outer: ['192.0.2.1', '192.0.2.2'] }],
		['vxlan100', 'egress', TCP, '198.18.100.1', '198.18.100.2', 5432, [20e3, 900e3]],
	],
	'edge-fra-1': [
		['eth0', 'ingress', TCP, '203.0.113.20', '198.18.11.5', 443, [40e3, 3e6]],
		['eth0', 'egress', TCP, '198.18.11.5', '203.0.113.20', -443, [100e3, 6e6]],
		['eth0', 'ingress', UDP, '198.51.100.9', '198.18.11.9', 123, [76, 456]],
		['eth1', 'egress', UDP, '2001:db8:11::9', '2001:db8:53::53', 53, [90, 700]],
		['eth1', 'ingress', 'arp'],
	],
	'core-sw-1': [
		['bond0', 'egress', TCP, TOP_SRC, '198.18.2.20', 873, [30e6, 90e6]],
		['eth2', 'ingress', TCP, TOP_SRC, '198.18.2.20', 873, [30e6, 90e6]],
		['eth3', 'ingress', UDP, '198.18.3.30', '198.18.3.31', 4789, [1e6, 5e6]],
		['eth3', 'egress', TCP, '198.18.3.40', '198.18.10.5', 8080, [100e3, 3e6]],
	],
	'vmhost-1': [
		['eth0', 'ingress', UDP, '198.18.200.3', '198.18.200.4', 5000, [200e3, 4e6],
			{ vni: 200, outer: ['192.0.2.3', '192.0.2.4'] }],
		['eth0', 'egress', UDP, '198.18.200.4', '198.18.200.3', 5000, [100e3, 1e6],
			{ vni: 200, outer: ['192.0.2.4', '192.0.2.3'] }],
		['eth0', 'egress', TCP, '198.18.100.2', '198.18.100.1', -5432, [10e3, 200e3],
			{ vni: 100, outer: ['192.0.2.2', '192.0.2.1'] }],
		['br0', 'ingress', TCP, '198.18.30.11', '198.18.30.12', 22, [5e3, 80e3]],
		['tap3', 'egress', ICMP, '2001:db8:30::11', '2001:db8:30::1', 0, [104, 1040], { icmp: [128, 0], v6icmp: true }],
	],
};

function mac(r) {
	const b = () => Math.floor(r() * 256).toString(16).padStart(2, '0');
	return `02:00:5e:${b()}:${b()}:${b()}`;
}

// Round trips on TCP records, DNS results on queries to port 53 (issue 17), derived from
// the byte count and not from r(), so every other generated value stays what it was.
function latency(rec) {
	const k = rec.bytes % 97;
	if (rec.protocol === TCP) {
		rec.retransmits = k % 13 === 0 ? k % 5 : 0;
		if (k % 3 === 0) return;
		rec.rtt_samples = 1 + (k % 20);
		rec.rtt_min_ns = 200000 + k * 10000;
		rec.rtt_max_ns = rec.rtt_min_ns + k * 100000;
		rec.rtt_sum_ns = rec.rtt_samples * Math.floor((rec.rtt_min_ns + rec.rtt_max_ns) / 2);
	} else if (rec.protocol === UDP && rec.dst_port === 53) {
		rec.dns_answers = 1 + (k % 4);
		rec.dns_latency_sum_ns = rec.dns_answers * (300000 + k * 50000);
		rec.dns_rcode = k % 7 === 0 ? 3 : 0;
		rec.dns_failures = rec.dns_rcode ? 1 : 0;
		rec.dns_unanswered = k % 11 === 0 ? 1 : 0;
	}
}

// One flow record ending at lastNs (BigInt) from conversation c.
function record(box, c, lastNs, r) {
	const [iface, direction, proto, src, dst, dport, range, extra = {}] = c;
	const durNs = BigInt(Math.floor(r() * 9e9));
	const base = {
		type: 'flow', box, iface, direction,
		src_mac: mac(r), dst_mac: mac(r),
		first_ns: lastNs - durNs, last_ns: lastNs,
		end_reason: r() < 0.7 ? 'active' : r() < 0.5 ? 'idle' : 'end',
	};
	if (proto === 'arp')
		return { ...base, eth_type: 2054, ip_version: 0, protocol: 0, src_addr: null, dst_addr: null,
			src_port: 0, dst_port: 0, packets: 1 + Math.floor(r() * 4), bytes: 60 + Math.floor(r() * 180), tcp_flags: 0 };
	const v6 = src.includes(':');
	let protocol = proto;
	if (proto === ICMP && extra.v6icmp) protocol = 58;
	const bytes = Math.floor(range[0] + r() * (range[1] - range[0]));
	const size = proto === TCP ? 900 : proto === UDP ? 400 : 84;
	const rec = {
		...base, eth_type: v6 ? 34525 : 2048, ip_version: v6 ? 6 : 4, protocol,
		src_addr: src, dst_addr: dst,
		src_port: proto === ICMP ? 0 : dport > 0 ? 32768 + Math.floor(r() * 28000) : -dport,
		dst_port: proto === ICMP ? 0 : dport > 0 ? dport : 32768 + Math.floor(r() * 28000),
		packets: Math.max(1, Math.floor(bytes / size)), bytes,
		tcp_flags: proto === TCP ? (r() < 0.2 ? 0x02 | 0x10 | 0x01 : 0x10 | 0x08) : 0,
	};
	if (extra.icmp) [rec.icmp_type, rec.icmp_code] = extra.icmp;
	latency(rec);
	if (extra.vni != null) {
		rec.vni = extra.vni;
		[rec.outer_src_addr, rec.outer_dst_addr] = extra.outer;
	}
	return rec;
}

function ndjson(header, recs) {
	const big = (k, v) => (typeof v === 'bigint' ? `__BIG${v}` : v);
	return [header, ...recs].map((o) => JSON.stringify(o, big).replace(/"__BIG(\d+)"/g, '$1')).join('\n') + '\n';
}

async function post(url, token, body) {
	const r = await fetch(url + '/api/v1/ingest', {
		method: 'POST',
		headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/x-ndjson' },
		body,
	});
	const a = await r.json().catch(() => ({}));
	if (!r.ok) throw new Error(`ingest: HTTP ${r.status}: ${a.error}`);
	return a;
}

// A probe: one small flow record the attacker sent, no randomness (the history's random
// sequence stays as it was).
function probe(box, iface, proto, src, dst, dport, lastNs, extra = {}) {
	return {
		type: 'flow', box, iface, direction: 'ingress', eth_type: 2048, ip_version: 4,
		protocol: proto, src_addr: src, dst_addr: dst, src_port: proto === TCP ? 51515 : 0,
		dst_port: dport, src_mac: '02:00:5e:00:00:01', dst_mac: '02:00:5e:00:00:02',
		packets: 1, bytes: 60, tcp_flags: proto === TCP ? 0x02 : 0,
		first_ns: lastNs, last_ns: lastNs, end_reason: 'idle', ...extra,
	};
}

function attackHistory(box, at) {
	const recs = [];
	for (let p = 1; p <= SCAN_PORTS; p++) {
		const iface = box === 'edge-ams-1' ? 'eth0' : 'eth3';
		if (box === 'edge-ams-1' || box === 'core-sw-1')
			recs.push(probe(box, iface, TCP, SCANNER, SCAN_TARGET, 1000 + p, at + BigInt(p) * 1000000n));
	}
	if (box === 'edge-ams-1')
		for (let i = 1; i <= SWEEP_HOSTS; i++)
			recs.push(probe(box, 'eth1', ICMP, SWEEPER, `198.18.10.${100 + i}`, 0,
				at + BigInt(i) * 1000000n, { icmp_type: 8, icmp_code: 0 }));
	return recs;
}

// A SYN flood now: 1500 SYN packets to FLOOD_TARGET:443, seen on edge-fra-1.
export async function attack(url, token) {
	const now = BigInt(Date.now()) * 1000000n;
	const recs = [probe('edge-fra-1', 'eth0', TCP, FLOODER, FLOOD_TARGET, 443, now,
		{ packets: 1500, bytes: 90000 })];
	return post(url, token, ndjson(header('edge-fra-1', `flood-${Date.now()}`), recs));
}

function header(box, id) {
	return { type: 'batch', batch_id: id, box, agent_version: box === 'vmhost-1' ? '0.1.1' : '0.1.0', interfaces: BOXES[box] };
}

// The last 30 minutes: a record per conversation every 10 s or so, one batch per minute.
export async function history(url, token) {
	const r = rng(42);
	const nowNs = BigInt(Date.now()) * 1000000n;
	const t0 = nowNs - 1800n * 1000000000n;
	let total = 0;
	for (const box of Object.keys(BOXES)) {
		let special = 0;
		for (let minute = 0; minute < 30; minute++) {
			const recs = [];
			for (let tick = 0; tick < 6; tick++) {
				const at = t0 + BigInt(minute * 60 + tick * 10) * 1000000000n;
				for (const c of CONV[box]) {
					if (r() < 0.15) continue; // some conversations pause
					recs.push(record(box, c, at + BigInt(Math.floor(r() * 9e9)), r));
				}
				if (box === 'edge-fra-1' && special < SPECIAL_COUNT && (minute * 6 + tick) % 4 === 0) {
					recs.push(record(box, ['eth0', 'ingress', UDP, SPECIAL_ADDR, '198.51.100.53', 53, [70, 300]],
						at + 5000000000n, r));
					special++;
				}
			}
			if (minute === 25) recs.push(...attackHistory(box, t0 + 1500n * 1000000000n));
			total += recs.length;
			await post(url, token, ndjson(header(box, `${box}-hist-${minute}`), recs));
		}
		if (box === 'edge-fra-1' && special !== SPECIAL_COUNT) throw new Error('special records: ' + special);
	}
	return total;
}

// Each box's sightings of the sampled packets, one batch per box, sent back to back so the
// post joins them (it waits --path-hold seconds for the other boxes' sightings).
export async function fingerprints(url, token) {
	const r = rng(7);
	const t0 = BigInt(Date.now() - 120000) * 1000000n;
	const per = new Map(Object.keys(BOXES).map((b) => [b, []]));
	const drops = []; // core-sw-1's kernel said why (--drops): a record per lost packet
	for (let i = 0; i < PATH_PACKETS; i++) {
		const hash = Array.from({ length: 16 }, () => Math.floor(r() * 16).toString(16)).join('');
		let ts = t0 + BigInt(i) * 1000000000n;
		// Link, hop inside core-sw-1, link: a few hundred microseconds, tens, hundreds.
		const steps = [0n, BigInt(200000 + Math.floor(r() * 100000)), BigInt(20000 + Math.floor(r() * 20000)),
			BigInt(300000 + Math.floor(r() * 200000))];
		const seen = i % 10 === 0 ? 2 : PATH_WAY.length;
		for (let k = 0; k < seen; k++) {
			ts += steps[k];
			const [box, iface, direction] = PATH_WAY[k];
			per.get(box).push({ type: 'fp', hash, ts_ns: ts, box, iface, direction, ip_version: 4, ...PATH_FLOW, tunnel: false, len: 120 });
		}
		if (seen < PATH_WAY.length)
			drops.push({ type: 'flow', box: 'core-sw-1', iface: 'eth2', direction: 'ingress', eth_type: 2048,
				ip_version: 4, ...PATH_FLOW, packets: 0, bytes: 0, tcp_flags: 0, first_ns: ts, last_ns: ts,
				end_reason: 'active', drops: 1, drop_bytes: 120, drop_reasons: { NETFILTER_DROP: 1 } });
	}
	await post(url, token, ndjson(header('core-sw-1', 'core-sw-1-drops-hist'), drops));
	await Promise.all([...per].filter(([, fps]) => fps.length)
		.map(([box, fps]) => post(url, token, ndjson(header(box, `${box}-fp-hist`), fps))));
	return PATH_PACKETS;
}

// Every second, each box delivers a batch of records that end now.
export async function live(url, token, seconds) {
	const r = rng(Date.now() & 0xffffffff);
	const run = `${process.pid}-${Date.now()}`;
	const end = Date.now() + seconds * 1000;
	for (let seq = 0; Date.now() < end; seq++) {
		const started = Date.now();
		const nowNs = BigInt(started) * 1000000n;
		// Like an agent, a failed delivery does not end the run (the post may restart).
		await Promise.all(Object.keys(BOXES).map((box) => {
			// About the history's rate (a record per conversation every 10 s or so).
			const recs = CONV[box].filter(() => r() < 0.12)
				.map((c) => record(box, c, nowNs - BigInt(Math.floor(r() * 8e8)), r));
			return post(url, token, ndjson(header(box, `${box}-live-${run}-${seq}`), recs))
				.catch((e) => console.error(`live ${box}: ${e.message}`));
		}));
		await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (Date.now() - started))));
	}
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const arg = (k) => {
		const i = process.argv.indexOf(k);
		return i > 0 ? process.argv[i + 1] : undefined;
	};
	const url = arg('--url'), token = arg('--token');
	if (!url || !token) {
		console.error('usage: gen.mjs --url URL --token TOKEN (--history | --live SECONDS)');
		process.exit(2);
	}
	try {
		if (process.argv.includes('--history')) {
			console.log(`history: ${await history(url, token)} records`);
			console.log(`trajectories: ${await fingerprints(url, token)} sampled packets`);
		}
		// Bounded even if nobody stops it.
		if (arg('--live')) await live(url, token, Math.min(600, Number(arg('--live'))));
	} catch (e) {
		console.error(String(e.message || e));
		process.exit(1);
	}
}
