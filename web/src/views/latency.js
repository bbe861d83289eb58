// SPDX-License-Identifier: GPL-2.0
// How long it took (issue 17): the slowest TCP flows, the round trip over time per box and
// interface, and DNS answer times and failures, from the flows API's latency sorts and filters.

import { apiGet } from '../api.js';
import { RateChart } from '../chart.js';
import { DataTable, h, segmented } from '../dom.js';
import { RANGES, addrPort, fmtCount, fmtTime, rangeSeconds } from '../fmt.js';
import { goState } from './common.js';

const LIMIT = 25;
const MAX_RECORDS = 10000; // records read for the chart and the DNS summary
const REFRESH = 15000;
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

export const title = () => 'Latency';

// ns as a short duration: 840 µs, 12.3 ms, 1.20 s.
export function fmtLatency(ns) {
	if (ns == null || !Number.isFinite(ns)) return '–';
	if (ns < 1e6) return `${Math.round(ns / 1e3)} µs`;
	if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
	return `${(ns / 1e9).toFixed(2)} s`;
}

const mean = (sum, n) => (n ? sum / n : null);
const rcodeName = (c) => RCODES[c] || `rcode ${c}`;
const where = (f) => `${f.box} ${f.iface} ${f.direction}`;

// Mean RTT per box and interface, per minute: [ts, labels, columns] for RateChart.
function rttSeries(flows, since, until) {
	const step = Math.max(60, Math.ceil((until - since) / 240 / 60) * 60);
	const t0 = Math.floor(since / step) * step;
	const n = Math.max(1, Math.ceil((until - t0) / step));
	const ts = Array.from({ length: n }, (_, i) => t0 + i * step);
	const lines = new Map();
	for (const f of flows) {
		const key = `${f.box} ${f.iface}`;
		const i = Math.floor((f.last_ns / 1e9 - t0) / step);
		if (i < 0 || i >= n || !f.rtt_samples) continue;
		if (!lines.has(key)) lines.set(key, { sum: new Array(n).fill(0), cnt: new Array(n).fill(0) });
		const l = lines.get(key);
		l.sum[i] += f.rtt_sum_ns;
		l.cnt[i] += f.rtt_samples;
	}
	const labels = [...lines.keys()].sort();
	const cols = labels.map((k) => {
		const l = lines.get(k);
		return l.sum.map((s, i) => (l.cnt[i] ? s / l.cnt[i] / 1e6 : null));
	});
	return [ts, labels, cols];
}

function readState(params) {
	const range = RANGES.some(([v]) => v === params.get('range')) ? params.get('range') : '1h';
	return { range };
}

export function mount(ctx) {
	const st = readState(ctx.route.params);
	const rangeSeg = segmented(RANGES.map(([v, l]) => [v, l]), st.range,
		(v) => goState('latency', { range: v }), 'Range');
	rangeSeg.id = 'latency-range';
	const caption = h('span', { class: 'sub' });

	const slow = new DataTable([
		{ label: 'Last seen' }, { label: 'Where' }, { label: 'Source' }, { label: 'Destination' },
		{ label: 'RTT min', cls: 'num' }, { label: 'RTT mean', cls: 'num' },
		{ label: 'RTT max', cls: 'num' }, { label: 'Samples', cls: 'num' },
		{ label: 'Retransmits', cls: 'num' },
	], { empty: 'No round trips measured in this range.' });
	slow.el.id = 'latency-slowest';
	const dnsSlow = new DataTable([
		{ label: 'Last seen' }, { label: 'Where' }, { label: 'Server' }, { label: 'Client' },
		{ label: 'Answers', cls: 'num' }, { label: 'Mean time', cls: 'num' },
		{ label: 'Response', cls: 'num' }, { label: 'Failures', cls: 'num' },
	], { empty: 'No DNS answers in this range.' });
	dnsSlow.el.id = 'latency-dns';
	const unanswered = new DataTable([
		{ label: 'Last seen' }, { label: 'Where' }, { label: 'Client' }, { label: 'Server' },
		{ label: 'Unanswered', cls: 'num' },
	], { empty: 'Every DNS query in this range got an answer.' });
	unanswered.el.id = 'latency-unanswered';
	const dnsTotals = h('p', { class: 'sub', id: 'latency-dns-totals' });
	const chartWrap = h('div', { class: 'charts' });

	ctx.el.append(
		h('div', { class: 'view-head' }, h('h1', { text: 'Latency' }), caption),
		h('div', { class: 'controls' }, h('label', null, 'Range', rangeSeg)),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'Round trip over time, per box and interface' })), chartWrap),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'Slowest TCP flows (largest round trip)' })), slow.el),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'DNS: slowest answers' })), dnsTotals, dnsSlow.el),
		h('section', { class: 'panel' }, h('div', { class: 'panel-head' },
			h('h2', { text: 'DNS: queries never answered' })), unanswered.el));
	const chart = new RateChart(chartWrap, {
		title: 'mean RTT (ms)', fmt: (v) => (v == null ? '–' : `${v.toFixed(2)} ms`),
	});
	ctx.onCleanup(() => chart.destroy());

	ctx.poll('Latency', REFRESH, async (signal) => {
		const until = Date.now() / 1000;
		const since = Math.floor(until - rangeSeconds(st.range));
		const get = (p) => apiGet('flows', { since, ...p }, { signal });
		const [top, all, dns, dnsAll, lost] = await Promise.all([
			get({ sort: '-rtt_max_ns', min_rtt_ns: 1, limit: LIMIT }),
			get({ min_rtt_ns: 1, limit: MAX_RECORDS }),
			get({ sort: '-dns_latency_ns', min_dns_latency_ns: 0, limit: LIMIT }),
			get({ min_dns_latency_ns: 0, limit: MAX_RECORDS }),
			get({ sort: '-dns_unanswered', limit: LIMIT }),
		]);
		const key = (f) => String(f.id);
		const attrs = (f) => ({ data: { id: f.id } });
		slow.set(top.flows, key, (f) => [fmtTime(f.last_ns / 1e6), where(f),
			addrPort(f.src_addr, f.src_port), addrPort(f.dst_addr, f.dst_port),
			fmtLatency(f.rtt_min_ns), fmtLatency(mean(f.rtt_sum_ns, f.rtt_samples)),
			fmtLatency(f.rtt_max_ns), fmtCount(f.rtt_samples), fmtCount(f.retransmits)], attrs);
		dnsSlow.set(dns.flows, key, (f) => [fmtTime(f.last_ns / 1e6), where(f), f.src_addr,
			addrPort(f.dst_addr, f.dst_port), fmtCount(f.dns_answers),
			fmtLatency(mean(f.dns_latency_sum_ns, f.dns_answers)),
			{ text: rcodeName(f.dns_rcode), cls: f.dns_rcode ? 'bad' : '' },
			fmtCount(f.dns_failures)], attrs);
		unanswered.set(lost.flows.filter((f) => f.dns_unanswered > 0), key, (f) => [
			fmtTime(f.last_ns / 1e6), where(f), addrPort(f.src_addr, f.src_port), f.dst_addr,
			fmtCount(f.dns_unanswered)], attrs);
		const n = dnsAll.flows.reduce((a, f) => a + (f.dns_answers || 0), 0);
		const sum = dnsAll.flows.reduce((a, f) => a + (f.dns_latency_sum_ns || 0), 0);
		const failed = dnsAll.flows.reduce((a, f) => a + (f.dns_failures || 0), 0);
		dnsTotals.textContent = `${fmtCount(n)} answers, mean ${fmtLatency(mean(sum, n))}, ` +
			`${fmtCount(failed)} failed${dnsAll.more ? ` (first ${MAX_RECORDS} records)` : ''}`;
		chart.setData(...rttSeries(all.flows, since, until));
		caption.textContent = `last ${RANGES.find(([v]) => v === st.range)[1]}, ` +
			`refreshed every ${REFRESH / 1000} s`;
	});
}
