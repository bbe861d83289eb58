// SPDX-License-Identifier: GPL-2.0
// Alerts: the attacks the post's detector found (/api/v1/alerts), newest activity first,
// with their evidence: who, against what, how much, and which boxes saw it. Sources and
// targets link to the flow records of the attack's time. Refreshed every few seconds.

import { apiGet } from '../api.js';
import { DataTable, h, segmented } from '../dom.js';
import { RANGES, fmtCount, fmtDuration, fmtTime, rangeSeconds } from '../fmt.js';
import { boxSelect, flowsHref, goState } from './common.js';

const LIVE_MS = 5000;
const LIMIT = 200;
const TYPES = [['', 'all types'], ['port_scan', 'port scan'], ['host_sweep', 'host sweep'],
	['syn_flood', 'SYN flood']];
const SHOW = 5; // list items shown in a cell; the rest are counted

export const title = () => 'Alerts';

function readState(p) {
	const type = TYPES.some(([v]) => v && v === p.get('type')) ? p.get('type') : '';
	const range = RANGES.some(([v]) => v === p.get('range')) ? p.get('range') : '24h';
	return { type, range, box: p.get('box') || '' };
}

// Flow records of the alert's time, a minute either side.
function flowsOf(a, filters) {
	return flowsHref({
		...filters, range: 'custom',
		since: String(Math.floor(a.first_ns / 1e9) - 60),
		until: String(Math.ceil(a.last_ns / 1e9) + 60),
	});
}

function listText(items, total) {
	const shown = items.slice(0, SHOW).join(', ');
	return total > SHOW ? `${shown} … (${fmtCount(total)} in all)` : shown;
}

function evidence(a) {
	if (a.type === 'port_scan')
		return { text: `${fmtCount(a.port_count)} ports: ${listText(a.ports, a.port_count)}`, title: a.ports.join(' ') };
	if (a.type === 'host_sweep')
		return { text: `${fmtCount(a.host_count)} hosts: ${listText(a.hosts, a.host_count)}`, title: a.hosts.join(' ') };
	return {
		text: `${a.ports.join(', ')} from ${fmtCount(a.source_count)} source${a.source_count === 1 ? '' : 's'}: ${listText(a.sources, a.source_count)}`,
		title: a.sources.join(' '),
	};
}

// "router (ra, p1) · attacker (eth0)"
function seenBy(a) {
	const by = new Map();
	for (const s of a.seen_by) by.set(s.box, [...(by.get(s.box) || []), s.iface]);
	return [...by].map(([b, ifs]) => `${b} (${ifs.join(', ')})`).join(' · ');
}

const COLUMNS = [
	{ label: 'Last activity' }, { label: 'Type' }, { label: 'Severity' }, { label: 'Source' },
	{ label: 'Target' }, { label: 'Evidence' }, { label: 'Flows', cls: 'num' },
	{ label: 'Packets', cls: 'num' }, { label: 'Seen by' }, { label: 'Duration', cls: 'num' },
];

function cells(a) {
	const src = a.src === 'many' ? { text: 'many', title: 'a distributed source' } :
		{ text: a.src, href: flowsOf(a, { src_addr: a.src }) };
	const target = a.target ? { text: a.target, href: flowsOf(a, { dst_addr: a.target }) } :
		{ text: `${fmtCount(a.host_count)} hosts`, href: flowsOf(a, { src_addr: a.src }) };
	return [
		{ text: fmtTime(a.last_ns / 1e6), title: `first ${a.first}, last ${a.last}` },
		TYPES.find(([v]) => v === a.type)?.[1] || a.type,
		{ text: a.severity, cls: 'sev-' + a.severity },
		src, target, evidence(a), fmtCount(a.flows), fmtCount(a.packets), seenBy(a),
		fmtDuration(Math.max(0, a.last_ns - a.first_ns)),
	];
}

export function mount(ctx) {
	let st = readState(ctx.route.params);
	const go = (change) => goState('alerts', { ...st, ...change });

	const typeSel = h('select', { id: 'alerts-type', onchange: () => go({ type: typeSel.value }) },
		TYPES.map(([v, l]) => h('option', { value: v, text: l })));
	typeSel.value = st.type;
	const rangeSeg = segmented(RANGES, st.range, (v) => go({ range: v }), 'Range');
	rangeSeg.id = 'alerts-range';
	const boxSel = boxSelect(ctx, 'alerts-box', () => st.box, (v) => go({ box: v }));
	const caption = h('span', { class: 'sub' });
	const table = new DataTable(COLUMNS, { empty: 'No alerts in this range.' });
	table.el.id = 'alerts-table';

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Alerts' }), caption),
		h('div', { class: 'controls' }, h('label', null, 'Type', typeSel),
			h('label', null, 'Range', rangeSeg), h('label', null, 'Seen by', boxSel)),
		h('section', { class: 'panel' }, table.el));

	const poller = ctx.poll('Alerts', LIVE_MS, async (signal) => {
		const since = Math.floor(Date.now() / 1000) - rangeSeconds(st.range);
		const a = await apiGet('alerts', { type: st.type, box: st.box, since, limit: LIMIT }, { signal });
		table.set(a.alerts, (x) => String(x.id), cells, (x) => ({
			data: { id: x.id, type: x.type, src: x.src, target: x.target || '', severity: x.severity },
		}));
		caption.textContent = `${a.alerts.length}${a.more ? '+' : ''} alert${a.alerts.length === 1 ? '' : 's'}, ` +
			`refreshed every ${LIVE_MS / 1000} s · ${fmtTime(Date.now())}`;
	});

	return {
		update(params) {
			st = readState(params);
			typeSel.value = st.type;
			rangeSeg.setValue(st.range);
			boxSel.value = st.box;
			table.reset();
			poller.now();
		},
	};
}
