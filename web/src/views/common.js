// SPDX-License-Identifier: GPL-2.0
// Pieces several views share: the flow record table's columns and cells, top talker rows,
// the box list, and chart groups fed from LiveSeries.

import { apiGet } from '../api.js';
import { RateChart } from '../chart.js';
import { h, setOptions } from '../dom.js';
import {
	addrPort, flowProto, fmtBits, fmtBytes, fmtCount, fmtDateTime, fmtDuration, fmtTime,
	hasPorts, protoName, tcpFlags,
} from '../fmt.js';
import { LiveSeries, timeGrid } from '../live.js';

export const enc = encodeURIComponent;

// "#/paths?..." for one flow: its sampled packets' ways (views/paths.js reads it).
export function pathsHref(f) {
	const q = new URLSearchParams({ src_addr: f.src_addr, dst_addr: f.dst_addr, protocol: f.protocol,
		src_port: f.src_port, dst_port: f.dst_port });
	return '#/paths?' + q;
}

// "#/flows?..." with the given API filters (empty values dropped).
export function flowsHref(filters) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(filters)) if (v !== '' && v != null) q.set(k, v);
	const s = q.toString();
	return '#/flows' + (s ? '?' + s : '');
}

export const boxHref = (name) => '#/box/' + enc(name);

// A view's state in the address (empty values dropped), so it can be bookmarked and Back
// works: "#/top?by=port".
export function goState(view, state) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(state)) if (v) q.set(k, v);
	location.hash = `#/${view}?${q}`;
}

// The flow table's columns; `omit` drops some (the box view needs no box column).
export function flowColumns(omit = []) {
	return [
		{ id: 'last', label: 'Last seen', sort: 'last_ns' },
		{ id: 'first', label: 'Started', sort: 'first_ns' },
		{ id: 'box', label: 'Box', sort: 'box' },
		{ id: 'iface', label: 'Iface' },
		{ id: 'dir', label: 'Dir' },
		{ id: 'proto', label: 'Proto', sort: 'protocol' },
		{ id: 'src', label: 'Source', sort: 'src_addr' },
		{ id: 'sport', label: 'Sport', sort: 'src_port', cls: 'num' },
		{ id: 'dst', label: 'Destination', sort: 'dst_addr' },
		{ id: 'dport', label: 'Dport', sort: 'dst_port', cls: 'num' },
		{ id: 'vni', label: 'VNI', cls: 'num' },
		{ id: 'packets', label: 'Packets', sort: 'packets', cls: 'num' },
		{ id: 'bytes', label: 'Bytes', sort: 'bytes', cls: 'num' },
		{ id: 'rate', label: 'Avg rate', cls: 'num', title: 'bytes over the flow record\'s duration' },
		{ id: 'flags', label: 'TCP' },
		{ id: 'end', label: 'End' },
		{ id: 'path', label: 'Path', title: 'the flow\'s sampled packets and their ways (--trajectory)' },
	].filter((c) => !omit.includes(c.id));
}

function flowCell(f, id) {
	const ms = (ns) => ns / 1e6;
	const dur = f.last_ns - f.first_ns;
	const ports = hasPorts(f.protocol);
	const icmp = f.icmp_type != null;
	switch (id) {
	case 'last': return { text: fmtTime(ms(f.last_ns)), title: fmtDateTime(ms(f.last_ns)) };
	case 'first': return { text: fmtTime(ms(f.first_ns)), title: `${fmtDateTime(ms(f.first_ns))}, lasted ${fmtDuration(dur)}` };
	case 'box': return { text: f.box, href: boxHref(f.box) };
	case 'iface': return f.iface;
	case 'dir': return f.direction === 'ingress' ? { text: 'in', cls: 'dir-in', title: 'ingress' } :
		{ text: 'out', cls: 'dir-out', title: 'egress' };
	case 'proto': return { text: flowProto(f), title: f.ip_version ? `IPv${f.ip_version}, protocol ${f.protocol}` : `ethertype 0x${f.eth_type.toString(16)}` };
	case 'src': return { text: f.src_addr ?? f.src_mac ?? '–', cls: 'addr' };
	case 'dst': return { text: f.dst_addr ?? f.dst_mac ?? '–', cls: 'addr' };
	case 'sport': return { text: ports ? f.src_port : '', cls: 'num' };
	case 'dport': return icmp ? { text: `${f.icmp_type}/${f.icmp_code}`, cls: 'num muted', title: 'ICMP type/code' } :
		{ text: ports ? f.dst_port : '', cls: 'num' };
	case 'vni': return f.vni != null ? { text: f.vni, cls: 'num', href: '#/vni?vni=' + f.vni } : { text: '', cls: 'num' };
	case 'packets': return { text: fmtCount(f.packets), cls: 'num' };
	case 'bytes': return { text: fmtBytes(f.bytes), cls: 'num', title: `${fmtCount(f.bytes)} bytes` };
	case 'rate': return { text: dur > 0 ? fmtBits((f.bytes * 8) / (dur / 1e9)) : '', cls: 'num' };
	case 'flags': return { text: f.protocol === 6 ? tcpFlags(f.tcp_flags) : '', cls: 'addr' };
	case 'end': return { text: f.end_reason || '', cls: 'muted' };
	case 'path': return f.ip_version ? { text: 'path', href: pathsHref(f) } : '';
	}
	return '';
}

export function flowCells(columns) {
	return (f) => columns.map((c) => flowCell(f, c.id));
}

// Row attributes: what the columns leave out goes into the tooltip; data-* for tests.
export function flowRowAttrs(f) {
	const t = [`${addrPort(f.src_addr, f.src_port)} → ${addrPort(f.dst_addr, f.dst_port)}`];
	if (f.src_mac || f.dst_mac) t.push(`MAC ${f.src_mac ?? '?'} → ${f.dst_mac ?? '?'}`);
	if (f.vlan) t.push(`VLAN ${f.vlan}${f.inner_vlan ? '/' + f.inner_vlan : ''}`);
	if (f.vni != null) t.push(`VXLAN ${f.vni}: ${f.outer_src_addr ?? '?'} → ${f.outer_dst_addr ?? '?'}`);
	if (f.drops) t.push(`kernel drops ${f.drops}: ` + Object.entries(f.drop_reasons || {}).map(([k, v]) => `${k} ${v}`).join(', '));
	return {
		title: t.join('\n'),
		data: { id: f.id, box: f.box, proto: flowProto(f), bytes: f.bytes, packets: f.packets },
	};
}

// Top talkers: the grouped key as text and where a click on it leads.
export function topKey(by, it, extra = {}) {
	switch (by) {
	case 'src': return { text: it.src_addr, cls: 'addr', href: flowsHref({ ...extra, src_addr: it.src_addr }) };
	case 'dst': return { text: it.dst_addr, cls: 'addr', href: flowsHref({ ...extra, dst_addr: it.dst_addr }) };
	case 'pair': return { text: `${it.src_addr} → ${it.dst_addr}`, cls: 'addr', href: flowsHref({ ...extra, src_addr: it.src_addr, dst_addr: it.dst_addr }) };
	case 'port': return { text: `${protoName(it.protocol)} ${it.dst_port}`, href: flowsHref({ ...extra, protocol: it.protocol, dst_port: it.dst_port }) };
	case 'protocol': return { text: protoName(it.protocol), href: flowsHref({ ...extra, protocol: it.protocol }) };
	}
	return '';
}

export const topKeyOf = (by, it) => by === 'pair' ? `${it.src_addr}|${it.dst_addr}` :
	by === 'port' ? `${it.protocol}|${it.dst_port}` : String(it[{ src: 'src_addr', dst: 'dst_addr', protocol: 'protocol' }[by]]);

export const TOP_BY = [['src', 'Sources'], ['dst', 'Destinations'], ['pair', 'Pairs'],
	['port', 'Ports'], ['protocol', 'Protocols']];

export function topColumns(by) {
	const label = { src: 'Source', dst: 'Destination', pair: 'Source → destination', port: 'Service', protocol: 'Protocol' }[by];
	return [
		{ label: '#', cls: 'num' }, { label }, { label: 'Bytes', cls: 'num' },
		{ label: 'Packets', cls: 'num' }, { label: 'Flows', cls: 'num' }, { label: 'Share' },
	];
}

// Rows for a top answer; the bar is relative to the first (largest) item.
export function setTopRows(table, by, items, order, extra) {
	const max = items.length ? items[0][order] || 1 : 1;
	table.set(items, (it) => topKeyOf(by, it), (it) => {
		const i = items.indexOf(it);
		return [
			{ text: i + 1, cls: 'num muted' }, topKey(by, it, extra),
			{ text: fmtBytes(it.bytes), cls: 'num', title: `${fmtCount(it.bytes)} bytes` },
			{ text: fmtCount(it.packets), cls: 'num' }, { text: fmtCount(it.flows), cls: 'num' },
			{ bar: it[order] / max, title: `${((100 * it[order]) / max).toFixed(1)} % of the first` },
		];
	}, (it) => ({ data: { key: topKeyOf(by, it) } }));
}

// The boxes, fetched once per view (and refreshed by the views that poll it).
export async function fetchBoxes(signal) {
	return (await apiGet('boxes', {}, { signal })).boxes;
}

// A box filter: "all boxes" and, once fetched, the site's boxes. The box the view's state
// names (current()) stays choosable even when the post does not list it (a link from an
// older alert, a box gone), so the selector always shows what the view filters on.
export function boxSelect(ctx, id, current, onchange) {
	const sel = h('select', { id, onchange: () => onchange(sel.value) });
	setOptions(sel, [['', 'all boxes']]);
	sel.value = current();
	fetchBoxes(ctx.signal).then((boxes) => {
		const box = current(), opts = [['', 'all boxes'], ...boxes.map((b) => [b.name, b.name])];
		if (box && !boxes.some((b) => b.name === box)) opts.push([box, box]);
		setOptions(sel, opts);
		sel.value = current();
	}, (e) => ctx.error('Boxes', e));
	return sel;
}

export function isLive(b, now = Date.now()) {
	return now - Date.parse(b.last_seen) < 60000;
}

// A pair of charts (bits/s, packets/s) over a set of named LiveSeries; the set may change.
export class RatePair {
	constructor(parent, { bitsTitle, pktsTitle, style, height = 170 }) {
		this.el = h('div', { class: 'grid2 chart-pair' });
		parent.append(this.el);
		this.bits = new RateChart(this.el, { title: bitsTitle, kind: 0, style, height });
		this.pkts = new RateChart(this.el, { title: pktsTitle, kind: 1, style, height });
		this.series = new Map(); // label -> LiveSeries
	}

	// lines: [[label, filter]]; series already held for a label are kept (and their points).
	setLines(lines, opts) {
		const next = new Map();
		for (const [label, filter] of lines) {
			const key = JSON.stringify(filter);
			const old = this.series.get(label);
			next.set(label, old && old.key === key ? old : Object.assign(new LiveSeries(filter, opts), { key }));
		}
		this.series = next;
	}

	// Draws what arrived even when some lines failed, then reports the first failure.
	async update(signal) {
		const res = await Promise.allSettled([...this.series.values()].map((s) => s.update(signal)));
		if (signal.aborted) return;
		this.draw();
		const bad = res.find((r) => r.status === 'rejected');
		if (bad) throw bad.reason;
	}

	draw() {
		const all = [...this.series.values()];
		const ts = timeGrid(all);
		const labels = [...this.series.keys()];
		this.bits.setData(ts, labels, all.map((s) => ts.map((t) => s.rate(t, 0))));
		this.pkts.setData(ts, labels, all.map((s) => ts.map((t) => s.rate(t, 1))));
	}

	destroy() {
		this.bits.destroy();
		this.pkts.destroy();
		this.el.remove();
	}
}
