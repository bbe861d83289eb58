// SPDX-License-Identifier: GPL-2.0
// Top talkers: /api/v1/top by source, destination, pair, service port or protocol over a
// chosen range, by bytes or packets. One grouping at a time: each is a scan of the range on
// the post, so longer ranges also refresh less often.

import { apiGet } from '../api.js';
import { DataTable, h, segmented } from '../dom.js';
import { RANGES, fmtBytes, fmtCount, fmtPps, fmtBits, fmtTime, rangeSeconds } from '../fmt.js';
import { TOP_BY, boxSelect, goState, setTopRows, topColumns } from './common.js';

const LIMIT = 25;
const REFRESH = { '15m': 10000, '1h': 30000, '6h': 60000, '24h': 120000 };

export const title = () => 'Top talkers';

function readState(params) {
	const by = TOP_BY.some(([v]) => v === params.get('by')) ? params.get('by') : 'src';
	const range = RANGES.some(([v]) => v === params.get('range')) ? params.get('range') : '15m';
	const order = params.get('order') === 'packets' ? 'packets' : 'bytes';
	const direction = ['ingress', 'egress'].includes(params.get('direction')) ? params.get('direction') : '';
	return { by, range, order, box: params.get('box') || '', direction };
}

export function mount(ctx) {
	let st = readState(ctx.route.params);

	// The state lives in the address, so a view can be bookmarked and Back works.
	const go = (change) => goState('top', { ...st, ...change });

	const bySeg = segmented(TOP_BY, st.by, (v) => go({ by: v }), 'Group by');
	bySeg.id = 'top-by';
	const rangeSeg = segmented(RANGES.map(([v, l]) => [v, l]), st.range, (v) => go({ range: v }), 'Range');
	rangeSeg.id = 'top-range';
	const orderSeg = segmented([['bytes', 'Bytes'], ['packets', 'Packets']], st.order, (v) => go({ order: v }), 'Order');
	orderSeg.id = 'top-order';
	const boxSel = boxSelect(ctx, 'top-box', () => st.box, (v) => go({ box: v }));
	const dirSel = h('select', { id: 'top-dir', onchange: () => go({ direction: dirSel.value }) },
		h('option', { value: '', text: 'both' }), h('option', { value: 'ingress', text: 'ingress' }),
		h('option', { value: 'egress', text: 'egress' }));
	dirSel.value = st.direction;

	const caption = h('span', { class: 'sub' });
	const totals = h('span', { class: 'sub right' });
	let table = null;
	const tableWrap = h('div');

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Top talkers' }), caption),
		h('div', { class: 'controls' },
			h('label', null, 'Group by', bySeg), h('label', null, 'Range', rangeSeg),
			h('label', null, 'Order', orderSeg), h('label', null, 'Box', boxSel),
			h('label', null, 'Direction', dirSel)),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { id: 'top-title' }), totals), tableWrap));

	function rebuildTable() {
		table = new DataTable(topColumns(st.by), { empty: 'No traffic in this range.' });
		table.el.id = 'top-table';
		tableWrap.replaceChildren(table.el);
		ctx.el.querySelector('#top-title').textContent =
			`${TOP_BY.find(([v]) => v === st.by)[1]} by ${st.order}`;
	}
	rebuildTable();

	const poller = ctx.poll('Top talkers', REFRESH[st.range], async (signal) => {
		const secs = rangeSeconds(st.range);
		const until = Date.now() / 1000;
		const since = until - secs;
		const a = await apiGet('top', {
			by: st.by, order: st.order, limit: LIMIT, box: st.box, direction: st.direction,
			since: Math.floor(since),
		}, { signal });
		setTopRows(table, st.by, a.items, st.order,
			{ range: st.range, box: st.box, direction: st.direction });
		// The post answers exactly the range asked; it says which.
		const from = a.since_ns ? a.since_ns / 1e9 : since;
		const to = a.until_ns ? a.until_ns / 1e9 : until;
		caption.textContent = `${fmtTime(from * 1000)} – ${fmtTime(to * 1000)} (last ${RANGES.find(([v]) => v === st.range)[1]}), top ${LIMIT}, refreshed every ${REFRESH[st.range] / 1000} s`;
		const sb = a.items.reduce((x, i) => x + i.bytes, 0);
		const sp = a.items.reduce((x, i) => x + i.packets, 0);
		const secsUsed = Math.max(1, to - from);
		totals.textContent = `these ${a.items.length}: ${fmtBytes(sb)}, ${fmtCount(sp)} packets · ` +
			`avg ${fmtBits((sb * 8) / secsUsed)}, ${fmtPps(sp / secsUsed)}`;
	});

	return {
		update(params) {
			const prev = st;
			st = readState(params);
			bySeg.setValue(st.by);
			rangeSeg.setValue(st.range);
			orderSeg.setValue(st.order);
			boxSel.value = st.box;
			dirSel.value = st.direction;
			if (prev.by !== st.by || prev.order !== st.order) rebuildTable();
			else table.reset();
			poller.setInterval(REFRESH[st.range]);
			poller.now();
		},
	};
}
