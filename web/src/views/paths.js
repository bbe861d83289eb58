// SPDX-License-Identifier: GPL-2.0
// Packet trajectories (docs/paths.md): the site's boxes and the links between them as the
// sampled packets showed them, coloured by latency and loss, every link and in-box hop in a
// table, and one flow's sampled paths with the newest (or the chosen) one drawn on the graph.

import { apiGet } from '../api.js';
import { DataTable, h, segmented, setOptions } from '../dom.js';
import { RANGES, fmtCount, fmtDateTime, fmtTime, protoName, rangeSeconds } from '../fmt.js';

const SVG = 'http://www.w3.org/2000/svg';
const FLOW_KEYS = ['src_addr', 'dst_addr', 'protocol', 'src_port', 'dst_port'];
const REFRESH = { '15m': 10000, '1h': 20000, '6h': 60000, '24h': 120000 };
const MAX_PATHS = 200; // the newest of a flow's sampled paths listed
const BOX_W = 150, BOX_H = 46, COL_W = 250, ROW_H = 110, PAD = 30;

export const title = () => 'Paths';

function readState(p) {
	const range = RANGES.some(([v]) => v === p.get('range')) ? p.get('range') : '1h';
	const flow = {};
	for (const k of FLOW_KEYS) if (p.get(k)) flow[k] = p.get(k);
	return { range, flow };
}

function toHash(st) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(st.flow)) if (v !== '') q.set(k, v);
	if (st.range !== '1h') q.set('range', st.range);
	const s = q.toString();
	return '#/paths' + (s ? '?' + s : '');
}

const fmtNs = (ns) => {
	if (ns == null) return '–';
	const a = Math.abs(ns);
	if (a < 1e3) return `${ns} ns`;
	if (a < 1e6) return `${(ns / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`;
	if (a < 1e9) return `${(ns / 1e6).toFixed(a < 1e7 ? 2 : 1)} ms`;
	return `${(ns / 1e9).toFixed(2)} s`;
};
const pct = (r) => `${(r * 100).toFixed(r < 0.001 && r > 0 ? 3 : 1)}%`;
const place = (p) => `${p.box} ${p.iface} ${p.direction === 'egress' ? 'out' : 'in'}`;

// Loss first (a lossy link is the news), then latency: green, amber, red.
function level(packets, lost, p50) {
	const rate = packets ? lost / packets : 0;
	if (rate >= 0.01) return 'bad';
	if (rate > 0 || (p50 != null && p50 >= 10e6)) return 'warn';
	if (p50 != null && p50 >= 1e6) return 'warn';
	return 'ok';
}

// Columns by longest distance from a box nothing leads to, rows by name: the same picture
// for the same links, however the answer is ordered.
function layout(boxes, edges) {
	const rank = new Map(boxes.map((b) => [b, 0]));
	for (let i = 0; i < boxes.length; i++) {
		let moved = false;
		for (const e of edges) {
			if (e.from === e.to || e.back) continue;
			if (rank.get(e.to) < rank.get(e.from) + 1 && rank.get(e.from) + 1 < boxes.length) {
				rank.set(e.to, rank.get(e.from) + 1);
				moved = true;
			}
		}
		if (!moved) break;
	}
	const cols = new Map();
	for (const b of [...boxes].sort()) {
		const r = rank.get(b);
		if (!cols.has(r)) cols.set(r, []);
		cols.get(r).push(b);
	}
	const pos = new Map();
	let rows = 1;
	for (const [r, list] of cols) {
		list.forEach((b, i) => pos.set(b, { x: PAD + r * COL_W, y: PAD + i * ROW_H }));
		rows = Math.max(rows, list.length);
	}
	return { pos, width: PAD * 2 + (Math.max(0, ...cols.keys()) * COL_W) + BOX_W, height: PAD * 2 + (rows - 1) * ROW_H + BOX_H };
}

function svgEl(tag, attrs, ...children) {
	const el = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
	for (const c of children) if (c != null) el.append(c);
	return el;
}

// Links between boxes summed per direction; hops summed per box.
function summarize(topo) {
	const edges = new Map(), inbox = new Map();
	for (const l of topo.links) {
		if (l.kind === 'hop') {
			const s = inbox.get(l.from.box) || { packets: 0, lost: 0 };
			s.packets += l.packets;
			s.lost += l.lost;
			inbox.set(l.from.box, s);
			continue;
		}
		const key = `${l.from.box}\u0000${l.to.box}`;
		const e = edges.get(key) || { from: l.from.box, to: l.to.box, packets: 0, lost: 0, p50: null, p99: null, links: [] };
		e.packets += l.packets;
		e.lost += l.lost;
		e.p50 = Math.max(e.p50 ?? -Infinity, l.latency_ns.p50 ?? -Infinity);
		e.p99 = Math.max(e.p99 ?? -Infinity, l.latency_ns.p99 ?? -Infinity);
		if (!Number.isFinite(e.p50)) e.p50 = null;
		if (!Number.isFinite(e.p99)) e.p99 = null;
		e.links.push(`${l.from.iface} → ${l.to.iface}`);
		edges.set(key, e);
	}
	for (const e of edges.values()) e.back = edges.has(`${e.to}\u0000${e.from}`) && e.from > e.to;
	return { edges: [...edges.values()], inbox };
}

// Where a line between two boxes leaves and enters them; two directions side by side.
function ends(a, b, shift) {
	const ax = a.x + BOX_W / 2, ay = a.y + BOX_H / 2, bx = b.x + BOX_W / 2, by = b.y + BOX_H / 2;
	const dx = bx - ax, dy = by - ay, len = Math.hypot(dx, dy) || 1;
	const nx = -dy / len * shift, ny = dx / len * shift;
	// Clip to the boxes' borders.
	const t = (w, hh) => Math.min(Math.abs(dx) > 0 ? w / Math.abs(dx) : Infinity, Math.abs(dy) > 0 ? hh / Math.abs(dy) : Infinity);
	const k = t(BOX_W / 2 + 4, BOX_H / 2 + 4);
	return { x1: ax + dx * k + nx, y1: ay + dy * k + ny, x2: bx - dx * k + nx, y2: by - dy * k + ny };
}

function drawGraph(svg, topo, path) {
	const boxes = [...new Set([...topo.boxes, ...(path ? path.hops.map((p) => p.box) : [])])];
	const { edges, inbox } = summarize(topo);
	const { pos, width, height } = layout(boxes, edges);
	svg.setAttribute('viewBox', `0 0 ${Math.max(width, 300)} ${Math.max(height, 120)}`);
	svg.setAttribute('width', Math.max(width, 300));
	svg.setAttribute('height', Math.max(height, 120));
	const defs = svgEl('defs', null, ...['ok', 'warn', 'bad', 'path'].map((c) =>
		svgEl('marker', { id: `arrow-${c}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
			svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `arrowhead ${c}` }))));
	const parts = [defs];
	for (const e of edges) {
		const a = pos.get(e.from), b = pos.get(e.to);
		if (!a || !b) continue;
		const two = edges.some((o) => o.from === e.to && o.to === e.from);
		const p = ends(a, b, two ? 6 : 0);
		const lv = level(e.packets, e.lost, e.p50);
		const tip = `${e.from} → ${e.to} (${e.links.join(', ')})\n${fmtCount(e.packets)} sampled packets, ${fmtCount(e.lost)} lost (${pct(e.packets ? e.lost / e.packets : 0)})\nlatency p50 ${fmtNs(e.p50)}, p99 ${fmtNs(e.p99)}`;
		parts.push(svgEl('g', { class: `edge ${lv}`, 'data-from': e.from, 'data-to': e.to, 'data-lost': e.lost, 'data-packets': e.packets },
			svgEl('title', null, tip),
			svgEl('line', { ...p, 'marker-end': `url(#arrow-${lv})` }),
			svgEl('text', { x: (p.x1 + p.x2) / 2, y: (p.y1 + p.y2) / 2 - 6, class: 'edge-label' },
				`${fmtNs(e.p50)}${e.lost ? ' · ' + pct(e.lost / e.packets) + ' lost' : ''}`)));
	}
	for (const b of boxes) {
		const q = pos.get(b);
		const s = inbox.get(b) || { packets: 0, lost: 0 };
		const lv = level(s.packets, s.lost, null);
		parts.push(svgEl('g', { class: `node ${lv}`, 'data-box': b, 'data-lost': s.lost },
			svgEl('title', null, `${b}: ${fmtCount(s.lost)} sampled packets dropped inside (seen arriving, never leaving)`),
			svgEl('rect', { x: q.x, y: q.y, width: BOX_W, height: BOX_H, rx: 6 }),
			svgEl('text', { x: q.x + BOX_W / 2, y: q.y + 20, class: 'node-name' }, b),
			svgEl('text', { x: q.x + BOX_W / 2, y: q.y + 36, class: 'node-sub' },
				s.lost ? `${pct(s.lost / s.packets)} dropped inside` : 'no drops inside')));
	}
	if (path) {
		// The chosen packet's way: box to box, numbered in order.
		const seq = [];
		for (const hp of path.hops) if (!seq.length || seq[seq.length - 1] !== hp.box) seq.push(hp.box);
		const pts = seq.map((b) => pos.get(b)).filter(Boolean).map((q) => `${q.x + BOX_W / 2},${q.y + BOX_H / 2}`);
		if (pts.length === 1) pts.push(pts[0]);
		parts.push(svgEl('polyline', { points: pts.join(' '), class: 'flow-path', 'marker-end': 'url(#arrow-path)', 'data-boxes': seq.join(' ') }));
		seq.forEach((b, i) => {
			const q = pos.get(b);
			if (q) parts.push(svgEl('g', { class: 'path-step' }, svgEl('circle', { cx: q.x + 10, cy: q.y + 10, r: 9 }),
				svgEl('text', { x: q.x + 10, y: q.y + 14 }, String(i + 1))));
		});
	}
	svg.replaceChildren(...parts);
}

// The kernel's reasons (the agents' --drops) for a packet lost inside a box: that flow's
// drops in that box in that minute, asked once per box, flow and minute, a few at a time.
const WHY_PER_REFRESH = 8;

function whyOf(p) {
	if (!p.lost || p.lost.after.box !== p.lost.expected.box) return null;
	const minute = Math.floor(p.first_ns / 60e9) * 60;
	return {
		key: [p.lost.after.box, p.src_addr, p.dst_addr, p.protocol, p.src_port, p.dst_port, minute].join('|'),
		q: { box: p.lost.after.box, src_addr: p.src_addr, dst_addr: p.dst_addr, protocol: p.protocol,
			src_port: p.src_port, dst_port: p.dst_port, since: minute, until: minute + 60, step: 60, limit: 5 },
	};
}

async function fetchWhy(why, shown, signal) {
	const want = new Map();
	for (const p of shown) {
		const w = whyOf(p);
		if (w && !why.has(w.key) && want.size < WHY_PER_REFRESH) want.set(w.key, w.q);
	}
	await Promise.all([...want].map(async ([key, q]) => {
		const d = await apiGet('drops', q, { signal }).catch(() => ({ flows: [] }));
		const sum = {};
		for (const f of d.flows)
			for (const [n, v] of Object.entries(f.drop_reasons)) sum[n] = (sum[n] || 0) + v;
		why.set(key, Object.entries(sum).sort((a, b) => b[1] - a[1]).map(([n, v]) => `${n} ×${v}`).join(', '));
	}));
}

export function mount(ctx) {
	let st = readState(ctx.route.params);
	let topo = { links: [], boxes: [] };
	let paths = [];
	let chosen = null; // hash of the path drawn, null: the newest
	const why = new Map(); // whyOf(path).key -> the kernel's reasons, '' if none recorded

	const go = (next) => {
		const hash = toHash(next);
		if (location.hash !== hash) location.hash = hash;
		else refresh.now();
	};
	const f = {
		src_addr: h('input', { id: 'p-src', class: 'addr-input', placeholder: 'source address' }),
		dst_addr: h('input', { id: 'p-dst', class: 'addr-input', placeholder: 'destination address' }),
		protocol: h('select', { id: 'p-proto' }),
		src_port: h('input', { id: 'p-sport', type: 'number', min: 0, max: 65535, placeholder: 'any' }),
		dst_port: h('input', { id: 'p-dport', type: 'number', min: 0, max: 65535, placeholder: 'any' }),
	};
	setOptions(f.protocol, [['', 'any'], ['6', 'TCP'], ['17', 'UDP'], ['1', 'ICMP'], ['58', 'ICMPv6']]);
	const form = h('form', { class: 'controls', id: 'path-form' },
		h('label', null, 'Source', f.src_addr), h('label', null, 'Destination', f.dst_addr),
		h('label', null, 'Protocol', f.protocol), h('label', null, 'Sport', f.src_port),
		h('label', null, 'Dport', f.dst_port),
		h('button', { type: 'submit', class: 'primary', text: 'Show paths' }),
		h('button', { type: 'button', text: 'Clear', onclick: () => go({ ...st, flow: {} }) }));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const flow = {};
		for (const [k, el] of Object.entries(f)) if (el.value.trim()) flow[k] = el.value.trim();
		chosen = null;
		go({ ...st, flow });
	});
	const rangeSeg = segmented(RANGES, st.range, (v) => go({ ...st, range: v }), 'Range');
	const svg = svgEl('svg', { id: 'paths-graph', role: 'img', 'aria-label': 'boxes and links' });
	const graphNote = h('p', { class: 'note', id: 'paths-graph-note' });
	const links = new DataTable([
		{ label: 'Kind' }, { label: 'From' }, { label: 'To' },
		{ label: 'Packets', cls: 'num', title: 'sampled packets that reached the start' },
		{ label: 'Lost', cls: 'num' }, { label: 'Loss', cls: 'num' },
		{ label: 'p50', cls: 'num' }, { label: 'p90', cls: 'num' }, { label: 'p99', cls: 'num' },
	], { empty: 'No sampled packets in this range: run the agents with --trajectory N.' });
	links.el.id = 'paths-links';
	const skewEl = h('p', { class: 'note', id: 'paths-skew' });
	const list = new DataTable([
		{ label: 'First seen' }, { label: 'Way' }, { label: 'Took', cls: 'num', title: 'first to last sighting' },
		{ label: 'Lost after' },
	], { empty: 'No sampled packet of this flow in the range.' });
	list.el.id = 'paths-list';
	const hops = new DataTable([
		{ label: '#', cls: 'num' }, { label: 'Box' }, { label: 'Iface' }, { label: 'Dir' },
		{ label: 'Time' }, { label: 'Since previous', cls: 'num' },
	], { empty: 'Choose a path above.' });
	hops.el.id = 'paths-hops';
	const flowHead = h('h2', { id: 'paths-flow-title', text: 'A flow\'s paths' });
	const flowNote = h('p', { class: 'note', id: 'paths-flow-note' });

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Packet paths' }),
			h('span', { class: 'sub', text: 'sampled packets across the site: links and hops, latency and loss' })),
		h('div', { class: 'controls' }, h('label', null, 'Range', rangeSeg)), form,
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Site' }),
			h('span', { class: 'sub', text: 'green: no loss, under 1 ms · amber: some loss or slower · red: 1% lost or more' })),
		h('div', { class: 'graph-wrap' }, svg), graphNote),
		h('section', { class: 'panel' }, flowHead, flowNote, hops.el,
			h('h3', { class: 'sub-head', text: 'Sampled packets, newest first' }), list.el),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Links and hops' })), links.el, skewEl));

	function showForm() {
		for (const [k, el] of Object.entries(f)) el.value = st.flow[k] || '';
		rangeSeg.setValue(st.range);
	}

	const drawn = () => paths.find((p) => p.hash === chosen) || paths[paths.length - 1] || null;

	function showPath() {
		const p = drawn();
		drawGraph(svg, topo, p);
		hops.set(p ? p.hops : [], (x) => `${x.box}|${x.iface}|${x.direction}|${x.ts_ns}`, (x) => [
			String(p.hops.indexOf(x) + 1), x.box, x.iface, x.direction === 'egress' ? 'out' : 'in',
			{ text: fmtTime(x.ts_ns / 1e6), title: `${fmtDateTime(x.ts_ns / 1e6)} (+${x.ts_ns % 1e6} ns)` },
			{ text: p.hops.indexOf(x) ? '+' + fmtNs(x.delta_ns) : '', cls: 'num' },
		], (x) => ({ data: { box: x.box, iface: x.iface, dir: x.direction } }));
	}

	function lostCell(p) {
		const w = whyOf(p);
		const reasons = w ? why.get(w.key) : '';
		return { text: `${place(p.lost.after)}, expected ${place(p.lost.expected)}` +
			(reasons ? ` · kernel: ${reasons}` : ''), cls: 'bad',
		title: w ? (reasons ? `the kernel's drop reasons for this flow in ${p.lost.after.box} that minute` :
			`no kernel drop recorded for this flow in ${p.lost.after.box} that minute (agents with --drops)`) : '' };
	}

	function showPaths() {
		const shown = paths.slice(-MAX_PATHS).reverse();
		list.set(shown, (p) => p.hash + p.first_ns, (p) => [
			{ text: fmtTime(p.first_ns / 1e6), title: fmtDateTime(p.first_ns / 1e6) },
			{ text: p.hops.map((x) => x.box).filter((b, i, a) => i === 0 || a[i - 1] !== b).join(' → '), title: p.hops.map(place).join('\n') },
			{ text: fmtNs(p.hops.length ? p.hops[p.hops.length - 1].ts_ns - p.hops[0].ts_ns : 0), cls: 'num' },
			p.lost ? lostCell(p) : '',
		], (p) => ({ data: { hash: p.hash, lost: p.lost ? 1 : 0 } }));
		for (const tr of list.el.querySelectorAll('tbody tr[data-hash]')) {
			tr.classList.toggle('selected', drawn() && tr.dataset.hash === drawn().hash);
			tr.onclick = () => {
				chosen = tr.dataset.hash;
				showPaths();
				showPath();
			};
		}
		const lost = paths.filter((p) => p.lost).length;
		const fl = st.flow;
		flowHead.textContent = Object.keys(fl).length ?
			`${fl.src_addr || 'any'}${fl.src_port ? ':' + fl.src_port : ''} → ${fl.dst_addr || 'any'}${fl.dst_port ? ':' + fl.dst_port : ''} ${fl.protocol ? protoName(Number(fl.protocol)) : ''}` :
			'A flow\'s paths';
		flowNote.textContent = Object.keys(fl).length ?
			`${fmtCount(paths.length)} sampled packets${lost ? `, ${fmtCount(lost)} lost (${pct(lost / paths.length)})` : ''}` +
			(paths.length > MAX_PATHS ? `; the newest ${MAX_PATHS} listed` : '') + '. Click one to draw it.' :
			'Choose a flow above (or follow "path" from a flow record) to see its packets\' ways.';
	}

	const refresh = ctx.poll('Paths', REFRESH[st.range], async (signal) => {
		const since = Math.floor(Date.now() / 1000 - rangeSeconds(st.range));
		const [t, p] = await Promise.all([
			apiGet('paths/topology', { since }, { signal }),
			Object.keys(st.flow).length ? apiGet('paths', { ...st.flow, since, limit: 10000 }, { signal }) : Promise.resolve({ paths: [] }),
		]);
		topo = t;
		paths = p.paths;
		await fetchWhy(why, paths.slice(-MAX_PATHS), signal);
		links.set(t.links, (l) => `${place(l.from)}|${place(l.to)}`, (l) => [
			l.kind === 'hop' ? 'in box' : 'link', place(l.from), place(l.to),
			{ text: fmtCount(l.packets), cls: 'num' }, { text: fmtCount(l.lost), cls: 'num' },
			{ text: pct(l.loss_rate), cls: 'num ' + level(l.packets, l.lost, null) },
			{ text: fmtNs(l.latency_ns.p50), cls: 'num' }, { text: fmtNs(l.latency_ns.p90), cls: 'num' },
			{ text: fmtNs(l.latency_ns.p99), cls: 'num' },
		], (l) => ({ data: { kind: l.kind, from: l.from.box, to: l.to.box, lost: l.lost, packets: l.packets } }));
		const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;
		graphNote.textContent = `${n(t.boxes.length, 'box', 'boxes')}, ${n(t.links.filter((l) => l.kind === 'link').length, 'link', 'links')} between them, ` +
			`${n(t.links.filter((l) => l.kind === 'hop').length, 'hop', 'hops')} inside them; sampled packets since ${fmtDateTime(since * 1000)}.`;
		skewEl.textContent = t.clock_skew.length ?
			'Clock skew estimated from links seen both ways: ' + t.clock_skew.map((s) => `${s.b} − ${s.a}: ${fmtNs(s.b_minus_a_ns)}`).join(', ') +
			' (link latencies include it; docs/paths.md).' : 'Link latencies include any clock offset between the two boxes (docs/paths.md).';
		showPaths();
		showPath();
	});

	showForm();
	return {
		update(params) {
			st = readState(params);
			chosen = null;
			showForm();
			refresh.setInterval(REFRESH[st.range]);
			refresh.now();
		},
	};
}
