// SPDX-License-Identifier: GPL-2.0
// Overlays: VXLAN flow records grouped by VNI, then by inner conversation and tunnel
// endpoints. The API has no "any VNI" filter or grouping by VNI, so the VNIs are found in a
// bounded sample (the newest records of the range) plus any the user names, and each VNI's
// groups are summed here from its newest records. The page says how much it looked at.

import { apiGet } from '../api.js';
import { DataTable, h, segmented } from '../dom.js';
import { RANGES, fmtBytes, fmtCount, fmtDateTime, fmtTime, hasPorts, protoName, rangeSeconds } from '../fmt.js';
import { enc, flowsHref } from './common.js';

const SAMPLE = 2000; // records read to find VNIs
const PER_VNI = 500; // records read per VNI
const MAX_VNIS = 12;
const MAX_GROUPS = 15;
// Longer ranges are longer scans on the post: refreshed less often.
const REFRESH = { '15m': 15000, '1h': 30000, '6h': 60000, '24h': 120000 };

export const title = () => 'Overlays';

function readState(p) {
	const range = RANGES.some(([v]) => v === p.get('range')) ? p.get('range') : '1h';
	const vnis = (p.get('vni') || '').split(',').map((v) => v.trim()).filter((v) => /^\d+$/.test(v));
	return { range, vnis: [...new Set(vnis)] };
}

// Sums one VNI's records by inner conversation and tunnel endpoints.
function aggregate(flows) {
	const groups = new Map();
	const tunnels = new Map();
	const boxes = new Set();
	let bytes = 0, packets = 0;
	for (const f of flows) {
		// The service is the lower port: replies then group with their requests' service.
		const svc = hasPorts(f.protocol) && f.src_port && f.dst_port ?
			`${protoName(f.protocol)} ${Math.min(f.src_port, f.dst_port)}` : protoName(f.protocol);
		const outer = `${f.outer_src_addr ?? '?'} → ${f.outer_dst_addr ?? '?'}`;
		const key = [f.src_addr, f.dst_addr, svc, outer].join('|');
		let g = groups.get(key);
		if (!g) {
			g = { key, src: f.src_addr ?? f.src_mac ?? '?', dst: f.dst_addr ?? f.dst_mac ?? '?', svc, outer, boxes: new Set(), bytes: 0, packets: 0, records: 0, last: 0 };
			groups.set(key, g);
		}
		g.boxes.add(`${f.box}/${f.iface}`);
		g.bytes += f.bytes;
		g.packets += f.packets;
		g.records++;
		g.last = Math.max(g.last, f.last_ns);
		tunnels.set(outer, (tunnels.get(outer) || 0) + f.bytes);
		boxes.add(f.box);
		bytes += f.bytes;
		packets += f.packets;
	}
	const list = [...groups.values()].sort((a, b) => b.bytes - a.bytes);
	return { list, tunnels, boxes, bytes, packets, records: flows.length };
}

export function mount(ctx) {
	let st = readState(ctx.route.params);
	const go = (change) => {
		const next = { ...st, ...change };
		const q = new URLSearchParams();
		if (next.range !== '1h') q.set('range', next.range);
		if (next.vnis.length) q.set('vni', next.vnis.join(','));
		location.hash = '#/vni' + (q.toString() ? '?' + q : '');
	};

	const rangeSeg = segmented(RANGES, st.range, (v) => go({ range: v }), 'Range');
	rangeSeg.id = 'vni-range';
	const addIn = h('input', { id: 'vni-add', type: 'number', min: 0, max: 16777215, placeholder: 'VNI' });
	const addForm = h('form', { class: 'controls' }, h('label', null, 'Add a VNI', addIn),
		h('button', { type: 'submit', text: 'Show' }));
	addForm.addEventListener('submit', (e) => {
		e.preventDefault();
		const v = addIn.value.trim();
		if (/^\d+$/.test(v) && !st.vnis.includes(v)) go({ vnis: [...st.vnis, v] });
	});
	const scope = h('p', { class: 'note', id: 'vni-scope' });
	const cards = h('div', { id: 'vni-cards' });
	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Overlays by VNI' }),
			h('span', { class: 'sub', text: 'VXLAN flow records: inner conversation and tunnel endpoints' })),
		h('div', { class: 'controls' }, h('label', null, 'Range', rangeSeg), addForm),
		scope, cards);

	let found = []; // VNIs seen in the sample, most records first
	let discovered = false;
	const shown = new Map(); // vni -> card parts

	function card(v) {
		let c = shown.get(v);
		if (c) return c;
		const table = new DataTable([
			{ label: 'Inner source → destination' }, { label: 'Service', title: 'protocol and the lower of the two ports' },
			{ label: 'Tunnel (outer) source → destination' }, { label: 'Seen on' },
			{ label: 'Packets', cls: 'num' }, { label: 'Bytes', cls: 'num' },
			{ label: 'Records', cls: 'num' }, { label: 'Last seen' },
		], { empty: 'No records with this VNI in the range.' });
		const metaEl = h('div', { class: 'vni-meta', text: 'reading its records…' });
		const more = h('p', { class: 'note' });
		const el = h('section', { class: 'panel vni-card', id: 'vni-' + v, dataset: { vni: v } },
			h('div', { class: 'panel-head' }, h('h2', { text: `VNI ${v}` }),
				h('a', { class: 'right', href: flowsHref({ vni: v, range: st.range }), text: `all flows of VNI ${v} →` })),
			metaEl, table.el, more);
		c = { el, table, metaEl, more };
		shown.set(v, c);
		return c;
	}

	function fill(v, answer) {
		const c = card(v);
		const agg = aggregate(answer.flows);
		const partial = answer.more;
		c.metaEl.replaceChildren(
			h('span', null, h('b', { text: fmtCount(agg.records) }), partial ? ` newest records (of more) ` : ' records '),
			h('span', null, h('b', { text: fmtBytes(agg.bytes) }), ' · ', h('b', { text: fmtCount(agg.packets) }), ' packets'),
			h('span', null, 'boxes: ', ...[...agg.boxes].sort().slice(0, 8).map((b) => h('a', { class: 'tag', href: '#/box/' + enc(b), text: b })),
				agg.boxes.size > 8 ? `and ${agg.boxes.size - 8} more` : ''),
			h('span', null, 'tunnels: ', ...[...agg.tunnels.entries()].sort((x, y) => y[1] - x[1]).slice(0, 6)
				.map(([t]) => h('span', { class: 'tag', text: t })),
				agg.tunnels.size > 6 ? `and ${agg.tunnels.size - 6} more` : ''),
			...(partial ? [h('span', { class: 'badge', text: `partial: newest ${PER_VNI} records` })] : []));
		c.table.set(agg.list.slice(0, MAX_GROUPS), (g) => g.key, (g) => [
			{ text: `${g.src} → ${g.dst}`, cls: 'addr' }, g.svc, { text: g.outer, cls: 'addr' },
			{ text: [...g.boxes].sort().join(', '), cls: 'muted' },
			{ text: fmtCount(g.packets), cls: 'num' }, { text: fmtBytes(g.bytes), cls: 'num' },
			{ text: fmtCount(g.records), cls: 'num' },
			{ text: fmtTime(g.last / 1e6), title: fmtDateTime(g.last / 1e6) },
		], (g) => ({ data: { src: g.src, dst: g.dst } }));
		c.more.textContent = agg.list.length > MAX_GROUPS ? `and ${agg.list.length - MAX_GROUPS} smaller groups` : '';
	}

	const vnisToShow = () => [...new Set([...st.vnis, ...found])].slice(0, MAX_VNIS);
	let discoveredAt = 0;
	const REDISCOVER_MS = 60000;

	// Finds the VNIs in the newest SAMPLE records of the range.
	async function discover(signal, since) {
		const a = await apiGet('flows', { since, limit: SAMPLE }, { signal });
		const count = new Map();
		for (const f of a.flows) if (f.vni != null) count.set(String(f.vni), (count.get(String(f.vni)) || 0) + 1);
		discovered = true;
		discoveredAt = Date.now();
		found = [...count.entries()].sort((x, y) => y[1] - x[1]).map(([v]) => v);
		const oldest = a.flows.length ? a.flows[a.flows.length - 1].last_ns / 1e6 : null;
		scope.textContent = `Range: ${fmtDateTime(since * 1000)} – now (local time). VNIs found among the ` +
			`${fmtCount(a.flows.length)} newest flow records of the range` +
			(a.more && oldest ? ` (back to ${fmtTime(oldest)}; older records were not searched)` : ' (all of it)') +
			`; each VNI is summed from its ${PER_VNI} newest records in the range. Up to ${MAX_VNIS} VNIs are shown.`;
	}

	// Each VNI's card fills in as its answer arrives: a rare VNI over a long range is a slow
	// scan on the post and must not hold up the others.
	const poller = ctx.poll('VNI records', REFRESH[st.range], async (signal) => {
		const since = Math.floor(Date.now() / 1000 - rangeSeconds(st.range));
		if (!discovered || Date.now() - discoveredAt > REDISCOVER_MS) await discover(signal, since);
		const vnis = vnisToShow();
		for (const v of [...shown.keys()])
			if (!vnis.includes(v)) {
				shown.get(v).el.remove();
				shown.delete(v);
			}
		cards.replaceChildren(...vnis.map((v) => card(v).el));
		if (!vnis.length)
			cards.replaceChildren(h('section', { class: 'panel note', text: 'No VXLAN records in the sample. Name a VNI above to look for it over the whole range.' }));
		const failures = [];
		await Promise.all(vnis.map(async (v) => {
			try {
				const a = await apiGet('flows', { vni: v, since, limit: PER_VNI }, { signal });
				if (!signal.aborted && shown.has(v)) fill(v, a);
			} catch (e) {
				failures.push(e);
			}
		}));
		if (failures.length) throw failures[0];
	});

	return {
		update(params) {
			st = readState(params);
			rangeSeg.setValue(st.range);
			for (const c of shown.values()) c.table.reset();
			discovered = false; // another range: look for its VNIs again
			poller.setInterval(REFRESH[st.range]);
			poller.now();
		},
	};
}
