// SPDX-License-Identifier: GPL-2.0
// Site overview: every box with its state, and live rates per box and per interface over
// the last 15 minutes in 10 s steps (raw records, so the newest seconds show).

import { DataTable, h } from '../dom.js';
import { fmtAgo, fmtBits, fmtCount, fmtDateTime, fmtPps } from '../fmt.js';
import { LiveSeries } from '../live.js';
import { RatePair, boxHref, fetchBoxes, isLive } from './common.js';

const WINDOW = 900;
const STEP = 10;
// More lines than this make a chart unreadable and cost a request each per tick.
const MAX_CHARTED = 12;

export const title = () => 'Overview';

function card(label) {
	const value = h('div', { class: 'value', text: '–' });
	return { el: h('div', { class: 'card' }, h('div', { class: 'label', text: label }), value), value };
}

export function mount(ctx) {
	const opts = { window: WINDOW, step: STEP };
	const cBoxes = card('Boxes');
	const cFlows = card('Flow records stored');
	const cBits = card('Site bits/s (last min)');
	const cPkts = card('Site packets/s (last min)');
	const table = new DataTable([
		{ label: 'Box' }, { label: 'State' }, { label: 'Last seen' }, { label: 'Agent' },
		{ label: 'Interfaces' }, { label: 'Flows stored', cls: 'num' },
	], { empty: 'No box has delivered records yet.' });
	table.el.id = 'boxes-table';
	const sitePanel = h('section', { class: 'panel' },
		h('div', { class: 'panel-head' }, h('h2', { text: 'Traffic by box' }),
			h('span', { class: 'sub', text: `last 15 min, ${STEP} s steps, both directions` })));
	const byBox = new RatePair(sitePanel, { bitsTitle: 'Bits per second', pktsTitle: 'Packets per second' });
	byBox.el.id = 'site-charts';
	const ifacePanel = h('section', { class: 'panel' },
		h('div', { class: 'panel-head' }, h('h2', { text: 'Traffic by interface' }),
			h('span', { class: 'sub', text: 'ingress + egress; open a box for each direction' })));
	const ifaceNote = h('p', { class: 'note', hidden: true });
	const ifaceWrap = h('div', { class: 'stack' });
	ifacePanel.append(ifaceNote, ifaceWrap);

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Site overview' }),
			h('span', { class: 'sub', text: 'refreshes every 5 s while shown' })),
		h('div', { class: 'cards' }, cBoxes.el, cFlows.el, cBits.el, cPkts.el),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', { text: 'Boxes' })), table.el),
		sitePanel, ifacePanel);

	const site = new LiveSeries({}, opts);
	const perBox = new Map(); // box name -> { section, pair }

	function showBoxes(boxes) {
		const now = Date.now();
		table.set(boxes, (b) => b.name, (b) => {
			const seen = Date.parse(b.last_seen);
			return [
				{ text: b.name, href: boxHref(b.name) },
				isLive(b, now) ? { text: 'reporting', cls: 'state-on' } : { text: 'silent', cls: 'state-off' },
				{ text: fmtAgo(seen, now), title: fmtDateTime(seen) },
				b.agent_version || '–',
				{ text: b.interfaces.join(', '), cls: 'addr' },
				{ text: fmtCount(b.flows), cls: 'num flows' },
			];
		}, (b) => ({ data: { box: b.name } }));
		cBoxes.value.textContent = String(boxes.length);
		cFlows.value.textContent = fmtCount(boxes.reduce((a, b) => a + b.flows, 0));
	}

	// Lines and per-box chart pairs follow the box list; existing ones keep their points.
	function syncCharts(boxes) {
		const charted = boxes.slice(0, MAX_CHARTED);
		byBox.setLines(charted.map((b) => [b.name, { box: b.name }]), opts);
		ifaceNote.hidden = boxes.length <= MAX_CHARTED;
		ifaceNote.textContent = `Showing the first ${MAX_CHARTED} of ${boxes.length} boxes; open a box for the others.`;
		const names = new Set(charted.map((b) => b.name));
		for (const [name, e] of perBox)
			if (!names.has(name)) {
				e.pair.destroy();
				e.section.remove();
				perBox.delete(name);
			}
		charted.forEach((b) => {
			let e = perBox.get(b.name);
			if (!e) {
				const section = h('div', { class: 'box-ifaces', dataset: { box: b.name } },
					h('h2', null, h('a', { href: boxHref(b.name), text: b.name })));
				e = { section, pair: new RatePair(section, {
					bitsTitle: `${b.name}: bits per second by interface`,
					pktsTitle: `${b.name}: packets per second by interface`, height: 150,
				}) };
				perBox.set(b.name, e);
			}
			ifaceWrap.append(e.section); // keeps name order
			e.pair.setLines(b.interfaces.map((i) => [i, { box: b.name, iface: i }]), opts);
		});
	}

	ctx.poll('Boxes and rates', 5000, async (signal) => {
		let boxes;
		try {
			boxes = await fetchBoxes(signal);
			ctx.ok('Boxes');
		} catch (e) {
			if (!signal.aborted) ctx.error('Boxes', e);
			return;
		}
		showBoxes(boxes);
		syncCharts(boxes);
		const jobs = [site.update(signal), byBox.update(signal),
			...[...perBox.values()].map((e) => e.pair.update(signal))];
		const res = await Promise.allSettled(jobs);
		if (signal.aborted) return;
		cBits.value.textContent = fmtBits(site.recent(0));
		cPkts.value.textContent = fmtPps(site.recent(1));
		const bad = res.find((r) => r.status === 'rejected');
		if (bad) ctx.error('Rates', bad.reason);
		else ctx.ok('Rates');
	});

	ctx.onCleanup(() => {
		byBox.destroy();
		for (const e of perBox.values()) e.pair.destroy();
	});
}
