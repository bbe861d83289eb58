// SPDX-License-Identifier: GPL-2.0
// One box: its interfaces' rates per direction, its top talkers and its newest flow records.

import { apiGet } from '../api.js';
import { DataTable, h } from '../dom.js';
import { fmtAgo, fmtCount, fmtDateTime } from '../fmt.js';
import {
	RatePair, fetchBoxes, flowCells, flowColumns, flowRowAttrs, flowsHref, isLive, setTopRows,
	topColumns,
} from './common.js';

const WINDOW = 900;
const STEP = 10;
const TOP_RANGE = 900;

export const title = (r) => `Box ${r.arg}`;

// Ingress solid, egress dashed, one colour per interface pair.
const dirStyle = (label) => (label.endsWith('egress') ? { dash: [5, 3] } : {});

export function mount(ctx) {
	const name = ctx.route.arg;
	const opts = { window: WINDOW, step: STEP };
	const meta = h('span', { class: 'sub', id: 'box-meta', text: 'loading…' });
	const ifaceWrap = h('div', { class: 'stack', id: 'box-ifaces' });
	const topSrc = new DataTable(topColumns('src'), { empty: 'No traffic in the last 15 min.' });
	const topDst = new DataTable(topColumns('dst'), { empty: 'No traffic in the last 15 min.' });
	topSrc.el.id = 'box-top-src';
	topDst.el.id = 'box-top-dst';
	const columns = flowColumns(['box']);
	const recent = new DataTable(columns, { empty: 'No flow records in the last hour.' });
	recent.el.id = 'box-flows';
	const cells = flowCells(columns);

	ctx.el.append(
		h('div', { class: 'view-head' },
			h('a', { href: '#/', text: '← Overview' }),
			h('h1', null, 'Box ', h('span', { id: 'box-name', text: name })), meta),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'Interfaces' }),
			h('span', { class: 'sub', text: `last 15 min, ${STEP} s steps; solid: ingress, dashed: egress` })),
		ifaceWrap),
		h('div', { class: 'grid2' },
			h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Top sources' }),
				h('span', { class: 'sub', text: 'last 15 min, by bytes' }),
				h('a', { class: 'right', href: `#/top?by=src&box=${encodeURIComponent(name)}`, text: 'more →' })), topSrc.el),
			h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Top destinations' }),
				h('span', { class: 'sub', text: 'last 15 min, by bytes' }),
				h('a', { class: 'right', href: `#/top?by=dst&box=${encodeURIComponent(name)}`, text: 'more →' })), topDst.el)),
		h('section', { class: 'panel spaced' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'Newest flow records' }), h('span', { class: 'sub', text: 'the 20 newest of the last hour' }),
			h('a', { class: 'right', href: flowsHref({ box: name }), text: 'all flows of this box →' })), recent.el));

	const pairs = new Map(); // iface -> { section, pair }

	function syncIfaces(ifaces) {
		for (const [i, e] of pairs)
			if (!ifaces.includes(i)) {
				e.pair.destroy();
				e.section.remove();
				pairs.delete(i);
			}
		if (!ifaces.length) ifaceWrap.replaceChildren(h('p', { class: 'note', text: 'This box reported no interfaces.' }));
		else ifaceWrap.querySelector('p.note')?.remove();
		for (const i of ifaces) {
			let e = pairs.get(i);
			if (!e) {
				const section = h('div', { class: 'iface', dataset: { iface: i } },
					h('h2', null, h('a', { href: flowsHref({ box: name, iface: i }), text: i })));
				e = { section, pair: new RatePair(section, {
					bitsTitle: `${i}: bits per second`, pktsTitle: `${i}: packets per second`,
					style: dirStyle, height: 150,
				}) };
				e.pair.setLines(['ingress', 'egress'].map((d) => [`${i} ${d}`, { box: name, iface: i, direction: d }]), opts);
				pairs.set(i, e);
			}
			ifaceWrap.append(e.section);
		}
	}

	ctx.poll('Box', 5000, async (signal) => {
		const boxes = await fetchBoxes(signal);
		const b = boxes.find((x) => x.name === name);
		if (!b) {
			meta.textContent = '';
			throw new Error(`no box named "${name}" has delivered records to this post`);
		}
		const seen = Date.parse(b.last_seen);
		meta.textContent = `${isLive(b) ? 'reporting' : 'silent'} · last seen ${fmtAgo(seen)} (${fmtDateTime(seen)}) · ` +
			`agent ${b.agent_version || '?'} · ${fmtCount(b.flows)} flow records stored · first seen ${fmtDateTime(Date.parse(b.first_seen))}`;
		syncIfaces(b.interfaces);
		const res = await Promise.allSettled([...pairs.values()].map((e) => e.pair.update(signal)));
		const bad = res.find((r) => r.status === 'rejected');
		if (bad) throw bad.reason;
	});

	ctx.poll('Top talkers', 15000, async (signal) => {
		const since = Math.floor(Date.now() / 1000 - TOP_RANGE);
		const [s, d] = await Promise.all([
			apiGet('top', { by: 'src', box: name, since, limit: 10 }, { signal }),
			apiGet('top', { by: 'dst', box: name, since, limit: 10 }, { signal }),
		]);
		setTopRows(topSrc, 'src', s.items, 'bytes', { box: name, range: '15m' });
		setTopRows(topDst, 'dst', d.items, 'bytes', { box: name, range: '15m' });
	});

	ctx.poll('Flow records', 5000, async (signal) => {
		const a = await apiGet('flows', { box: name, limit: 20, since: Math.floor(Date.now() / 1000 - 3600) }, { signal });
		recent.set(a.flows, (r) => String(r.id), cells, flowRowAttrs);
	});

	ctx.onCleanup(() => {
		for (const e of pairs.values()) e.pair.destroy();
	});
}
