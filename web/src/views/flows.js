// SPDX-License-Identifier: GPL-2.0
// Flow records: the API's filters as a form, server-side sorting and paging (limit/offset,
// "more"), and a live first page. The whole state is in the address, so links from other
// views land on a filtered table and Back undoes a filter.

import { apiGet } from '../api.js';
import { DataTable, h, setOptions } from '../dom.js';
import { fmtDateTime, fmtTime, protoName } from '../fmt.js';
import { fetchBoxes, flowCells, flowColumns, flowRowAttrs } from './common.js';

const FORM_FILTERS = ['box', 'iface', 'direction', 'protocol', 'addr', 'port', 'vni'];
// Filters the API knows that the form does not show: kept as removable chips.
const EXTRA_FILTERS = ['src_addr', 'dst_addr', 'src_port', 'dst_port', 'ip_version', 'drops', 'reason'];
const RANGES = [['15m', 'last 15 min', 900], ['1h', 'last hour', 3600], ['6h', 'last 6 h', 21600],
	['24h', 'last 24 h', 86400], ['7d', 'last 7 days', 604800], ['custom', 'custom…', 0]];
const LIMITS = ['25', '50', '100', '250'];
const SORT_DESC_FIRST = ['last_ns', 'first_ns', 'bytes', 'packets'];
const LIVE_MS = 5000;

export const title = () => 'Flows';

function readState(p) {
	const st = { filters: {} };
	for (const k of [...FORM_FILTERS, ...EXTRA_FILTERS]) if (p.get(k)) st.filters[k] = p.get(k);
	st.range = RANGES.some(([v]) => v === p.get('range')) ? p.get('range') : '1h';
	st.since = p.get('since') || '';
	st.until = p.get('until') || '';
	if (st.range !== 'custom' && (st.since || st.until) && !p.get('range')) st.range = 'custom';
	st.sort = p.get('sort') || '-last_ns';
	st.limit = LIMITS.includes(p.get('limit')) ? p.get('limit') : '50';
	st.offset = Math.max(0, parseInt(p.get('offset') || '0', 10) || 0);
	st.live = p.get('live') !== '0';
	return st;
}

function toHash(st) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(st.filters)) if (v !== '' && v != null) q.set(k, v);
	if (st.range !== '1h') q.set('range', st.range);
	if (st.range === 'custom') {
		if (st.since) q.set('since', st.since);
		if (st.until) q.set('until', st.until);
	}
	if (st.sort !== '-last_ns') q.set('sort', st.sort);
	if (st.limit !== '50') q.set('limit', st.limit);
	if (st.offset) q.set('offset', st.offset);
	if (!st.live) q.set('live', '0');
	const s = q.toString();
	return '#/flows' + (s ? '?' + s : '');
}

// datetime-local values are local time; the API takes epoch seconds.
const toLocalInput = (sec) => {
	if (!sec) return '';
	const d = new Date(Number(sec) * 1000);
	return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocalInput = (v) => (v ? String(Math.floor(new Date(v).getTime() / 1000)) : '');

export function mount(ctx) {
	let st = readState(ctx.route.params);
	let anchor = null; // the "until" page 1 was read with, so later pages do not shift

	let poller = null;
	let lastGo = 0;
	const go = (next) => {
		const hash = toHash(next);
		// The same state again is a request to reload, unless it is the submit that follows
		// the change event of the same Enter key.
		if (location.hash !== hash) location.hash = hash;
		else if (Date.now() - lastGo > 500) poller?.now();
		lastGo = Date.now();
	};

	const f = {
		box: h('select', { id: 'f-box', name: 'box' }),
		iface: h('input', { id: 'f-iface', name: 'iface', list: 'f-iface-list', size: 8, placeholder: 'any' }),
		direction: h('select', { id: 'f-direction', name: 'direction' },
			h('option', { value: '', text: 'both' }), h('option', { value: 'ingress', text: 'ingress' }),
			h('option', { value: 'egress', text: 'egress' })),
		protocol: h('select', { id: 'f-protocol', name: 'protocol' }),
		addr: h('input', { id: 'f-addr', name: 'addr', class: 'addr-input', placeholder: 'source or destination' }),
		port: h('input', { id: 'f-port', name: 'port', type: 'number', min: 0, max: 65535, placeholder: 'any' }),
		vni: h('input', { id: 'f-vni', name: 'vni', type: 'number', min: 0, max: 16777215, placeholder: 'any' }),
	};
	const ifaceList = h('datalist', { id: 'f-iface-list' });
	const rangeSel = h('select', { id: 'f-range' }, RANGES.map(([v, l]) => h('option', { value: v, text: l })));
	const sinceIn = h('input', { id: 'f-since', type: 'datetime-local' });
	const untilIn = h('input', { id: 'f-until', type: 'datetime-local' });
	const customWrap = h('span', { class: 'controls custom-range' },
		h('label', null, 'From', sinceIn), h('label', null, 'To', untilIn));
	const limitSel = h('select', { id: 'f-limit' }, LIMITS.map((v) => h('option', { value: v, text: v })));
	const liveBox = h('input', { id: 'f-live', type: 'checkbox' });
	const chips = h('div', { class: 'controls chips' });

	// Everything the form shows, as a state (page 1: a new filter starts over).
	const fromForm = () => {
		const filters = {};
		for (const [k, el] of Object.entries(f)) if (el.value.trim()) filters[k] = el.value.trim();
		for (const k of EXTRA_FILTERS) if (st.filters[k]) filters[k] = st.filters[k];
		return {
			...st, filters, range: rangeSel.value, limit: limitSel.value, offset: 0,
			since: rangeSel.value === 'custom' ? fromLocalInput(sinceIn.value) : '',
			until: rangeSel.value === 'custom' ? fromLocalInput(untilIn.value) : '',
			live: liveBox.checked,
		};
	};

	const form = h('form', { class: 'controls', id: 'flow-filters' },
		h('label', null, 'Box', f.box), h('label', null, 'Interface', f.iface, ifaceList),
		h('label', null, 'Direction', f.direction), h('label', null, 'Protocol', f.protocol),
		h('label', null, 'Address', f.addr), h('label', null, 'Port', f.port),
		h('label', null, 'VNI', f.vni), h('label', null, 'Range', rangeSel), customWrap,
		h('label', null, 'Rows', limitSel),
		h('button', { type: 'submit', class: 'primary', text: 'Apply' }),
		h('button', { type: 'button', id: 'f-reset', text: 'Reset', onclick: () => go(readState(new URLSearchParams())) }),
		h('label', { class: 'check', title: 'Reload the first page every 5 s (newest first only)' }, liveBox, 'live'));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		go(fromForm());
	});
	// Choices apply at once; typed fields on Enter or when they lose focus.
	for (const el of [f.box, f.direction, f.protocol, rangeSel, limitSel, liveBox, f.iface, f.addr, f.port, f.vni, sinceIn, untilIn])
		el.addEventListener('change', () => {
			if (el === rangeSel && rangeSel.value === 'custom' && !sinceIn.value) {
				// Start the custom range from the one shown so far.
				const now = Date.now() / 1000;
				sinceIn.value = toLocalInput(now - 3600);
				untilIn.value = toLocalInput(now);
			}
			go(fromForm());
		});

	const columns = flowColumns();
	const table = new DataTable(columns, {
		onSort: (field) => {
			const desc = st.sort === '-' + field ? false : st.sort === field ? true : SORT_DESC_FIRST.includes(field);
			go({ ...st, sort: (desc ? '-' : '') + field, offset: 0 });
		},
		empty: 'No flow records match.',
	});
	table.el.id = 'flows-table';
	const cells = flowCells(columns);
	const prev = h('button', { id: 'prev', type: 'button', text: '‹ Previous', onclick: () => go({ ...st, offset: Math.max(0, st.offset - Number(st.limit)) }) });
	const next = h('button', { id: 'next', type: 'button', text: 'Next ›', onclick: () => go({ ...st, offset: st.offset + Number(st.limit) }) });
	const pageInfo = h('span', { id: 'page-info' });
	const caption = h('span', { class: 'sub', id: 'flows-range' });

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Flow records' }), caption),
		form, chips,
		h('section', { class: 'panel' }, table.el, h('div', { class: 'pager' }, prev, next, pageInfo)));

	function showState() {
		for (const [k, el] of Object.entries(f)) el.value = st.filters[k] || '';
		if (st.filters.protocol && f.protocol.value !== st.filters.protocol) {
			// A number (or name) the list lacks, from a link: offer it.
			const p = st.filters.protocol;
			f.protocol.append(h('option', { value: p, text: /^\d+$/.test(p) ? protoName(Number(p)) : p }));
			f.protocol.value = st.filters.protocol;
		}
		if (st.filters.box && f.box.value !== st.filters.box) {
			f.box.append(h('option', { value: st.filters.box, text: st.filters.box }));
			f.box.value = st.filters.box;
		}
		rangeSel.value = st.range;
		customWrap.hidden = st.range !== 'custom';
		sinceIn.value = toLocalInput(st.since);
		untilIn.value = toLocalInput(st.until);
		limitSel.value = st.limit;
		liveBox.checked = st.live;
		liveBox.disabled = !canLive();
		chips.replaceChildren(...EXTRA_FILTERS.filter((k) => st.filters[k]).map((k) =>
			h('span', { class: 'tag' }, `${k} = ${st.filters[k]} `, h('button', {
				type: 'button', class: 'link', text: '×', title: 'remove this filter',
				onclick: () => {
					const filters = { ...st.filters };
					delete filters[k];
					go({ ...st, filters, offset: 0 });
				},
			}))));
		table.setSort(st.sort);
	}
	setOptions(f.protocol, [['', 'any'], ['tcp', 'TCP'], ['udp', 'UDP'], ['icmp', 'ICMP'],
		['icmpv6', 'ICMPv6'], ['sctp', 'SCTP']]);
	setOptions(f.box, [['', 'all boxes']]);

	// Live: the first page, newest first, of a range that ends now.
	const canLive = () => st.offset === 0 && st.sort === '-last_ns' && st.range !== 'custom';

	function query() {
		const q = { ...st.filters, sort: st.sort, limit: st.limit, offset: st.offset };
		const now = Math.floor(Date.now() / 1000);
		let since, until;
		if (st.range === 'custom') {
			since = st.since;
			until = st.until;
		} else {
			if (st.offset === 0 || anchor == null) anchor = now;
			until = anchor;
			since = until - RANGES.find(([v]) => v === st.range)[2];
			// The first page includes records that arrive while it is read.
			if (st.offset === 0) until = '';
		}
		q.since = since;
		q.until = until;
		const end = until ? Number(until) * 1000 : Date.now();
		caption.textContent = `last seen ${since ? fmtDateTime(Number(since) * 1000) : 'any time'} – ${until ? fmtTime(end) : 'now'} (local time)` +
			(canLive() && st.live ? ' · live' : '');
		return q;
	}

	poller = ctx.poll('Flow records', canLive() && st.live ? LIVE_MS : 0, async (signal) => {
		const a = await apiGet('flows', query(), { signal });
		table.set(a.flows, (r) => String(r.id), cells, flowRowAttrs);
		const from = a.offset + 1;
		pageInfo.textContent = a.flows.length ?
			`rows ${from}–${a.offset + a.flows.length}${a.more ? ', more after these' : ', the last page'}` :
			(a.offset ? 'no rows on this page' : '');
		pageInfo.dataset.more = a.more;
		prev.disabled = a.offset === 0;
		next.disabled = !a.more;
	});

	fetchBoxes(ctx.signal).then((boxes) => {
		setOptions(f.box, [['', 'all boxes'], ...boxes.map((b) => [b.name, b.name])]);
		const ifaces = [...new Set(boxes.flatMap((b) => b.interfaces))].sort();
		ifaceList.replaceChildren(...ifaces.map((i) => h('option', { value: i })));
		showState();
	}, (e) => ctx.error('Boxes', e));

	showState();

	return {
		update(params) {
			st = readState(params);
			table.reset(); // other rows: none of them is "new"
			showState();
			poller.setInterval(canLive() && st.live ? LIVE_MS : 0);
			poller.now();
		},
	};
}
