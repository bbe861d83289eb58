// SPDX-License-Identifier: GPL-2.0
// Drops: why the site's kernels dropped packets (/api/v1/drops, the agents' --drops): drops
// per second by box and reason over the range, and the flows that lost the most, with their
// reasons. Reasons are the running kernel's names (enum skb_drop_reason).

import { apiGet } from '../api.js';
import { RateChart } from '../chart.js';
import { DataTable, h, segmented } from '../dom.js';
import { RANGES, addrPort, flowProto, fmtBytes, fmtCount, fmtTime, rangeSeconds } from '../fmt.js';
import { boxSelect, flowsHref, goState } from './common.js';

const LIMIT = 50;
const REFRESH = { '15m': 10000, '1h': 30000, '6h': 60000, '24h': 120000 };
const MAX_LINES = 12; // box/reason lines in the chart; the rest are in the table only

export const title = () => 'Drops';

function readState(p) {
	const range = RANGES.some(([v]) => v === p.get('range')) ? p.get('range') : '1h';
	return { range, box: p.get('box') || '', reason: p.get('reason') || '' };
}

const reasonsText = (r) => Object.entries(r || {}).sort((a, b) => b[1] - a[1])
	.map(([k, v]) => `${k} ${fmtCount(v)}`).join(', ');

const COLUMNS = [
	{ label: 'Box' }, { label: 'Iface' }, { label: 'Dir' }, { label: 'Proto' },
	{ label: 'Source' }, { label: 'Destination' }, { label: 'VNI', cls: 'num' },
	{ label: 'Drops', cls: 'num' }, { label: 'Bytes', cls: 'num' }, { label: 'Reasons' },
	{ label: 'Last drop' },
];

function cells(f, since) {
	return [
		f.box, f.iface, f.direction === 'egress' ? 'out' : 'in', flowProto(f),
		addrPort(f.src_addr, f.src_port), addrPort(f.dst_addr, f.dst_port),
		{ text: f.vni == null ? '' : String(f.vni), cls: 'num' },
		{ text: fmtCount(f.drops), cls: 'num' }, { text: fmtBytes(f.drop_bytes), cls: 'num' },
		{ text: reasonsText(f.drop_reasons), href: flowsHref({ box: f.box, src_addr: f.src_addr,
			dst_addr: f.dst_addr, dst_port: f.dst_port, drops: 1, range: 'custom', since }) },
		fmtTime(f.last_ns / 1e6),
	];
}

export function mount(ctx) {
	let st = readState(ctx.route.params);
	const go = (change) => goState('drops', { ...st, ...change });

	const rangeSeg = segmented(RANGES, st.range, (v) => go({ range: v }), 'Range');
	rangeSeg.id = 'drops-range';
	const boxSel = boxSelect(ctx, 'drops-box', () => st.box, (v) => go({ box: v }));
	const reasonIn = h('input', { id: 'drops-reason', placeholder: 'any reason', value: st.reason,
		onchange: () => go({ reason: reasonIn.value.trim() }) });
	const caption = h('span', { class: 'sub' });
	const charts = h('div', { class: 'charts', id: 'drops-charts' });
	const chart = new RateChart(charts, { title: 'Drops per second by box and reason', kind: 1 });
	const table = new DataTable(COLUMNS, { empty: 'No drops in this range (or the agents run without --drops).' });
	table.el.id = 'drops-flows';

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Drops' }), caption),
		h('div', { class: 'controls' }, h('label', null, 'Range', rangeSeg),
			h('label', null, 'Box', boxSel), h('label', null, 'Reason', reasonIn)),
		h('section', { class: 'panel' }, charts),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'Top dropped flows' })), table.el));
	ctx.onCleanup(() => chart.destroy());

	const poller = ctx.poll('Drops', REFRESH[st.range], async (signal) => {
		const since = Math.floor(Date.now() / 1000) - rangeSeconds(st.range);
		const d = await apiGet('drops', { box: st.box, reason: st.reason, since, limit: LIMIT },
			{ signal });
		const series = d.series.slice().sort((a, b) => b.total - a.total).slice(0, MAX_LINES);
		const ts = series.length ? series[0].points.map((_, i) => d.since_ns / 1e9 + i * d.step) : [];
		chart.setData(ts, series.map((s) => `${s.box} ${s.reason}`),
			series.map((s) => s.points.map((v) => v / d.step)));
		table.set(d.flows, (f) => [f.box, f.iface, f.direction, f.protocol, f.src_addr, f.src_port,
			f.dst_addr, f.dst_port, f.vni].join('|'), (f) => cells(f, since),
		(f) => ({ data: { box: f.box, drops: f.drops } }));
		const total = d.series.reduce((n, s) => n + s.total, 0);
		caption.textContent = `${fmtCount(total)} drops in ${d.series.length} box/reason series, ` +
			`refreshed every ${REFRESH[st.range] / 1000} s · ${fmtTime(Date.now())}`;
	});

	return {
		update(params) {
			st = readState(params);
			rangeSeg.setValue(st.range);
			boxSel.value = st.box;
			reasonIn.value = st.reason;
			table.reset();
			poller.setInterval(REFRESH[st.range]);
			poller.now();
		},
	};
}
