// SPDX-License-Identifier: GPL-2.0
// Rate charts on uPlot (loaded as the global uPlot by index.html). A chart is built once and
// then only fed new data with setData; it is rebuilt only when its set of lines changes.

import { fmtBits, fmtPps, fmtShort, fmtTime } from './fmt.js';

const hhmm = (s) => {
	const d = new Date(s * 1000);
	return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

export const PALETTE = ['#4aa3ff', '#f5a524', '#3ecf8e', '#e5484d', '#a78bfa', '#22d3ee',
	'#f472b6', '#facc15', '#94a3b8', '#fb923c', '#84cc16', '#c084fc'];

const AXIS = {
	stroke: '#8795a8',
	grid: { stroke: 'rgba(255,255,255,0.06)', width: 1 },
	ticks: { stroke: 'rgba(255,255,255,0.12)', width: 1, size: 4 },
	font: '11px system-ui, sans-serif',
};

export class RateChart {
	// kind: 0 bits per second, 1 packets per second. style(label, i) may return series
	// options (stroke, dash) to override the palette.
	// fmt(v): the legend's values, for charts of something other than rates.
	constructor(parent, { title, kind = 0, height = 170, style, fmt } = {}) {
		this.kind = kind;
		this.fmt = fmt;
		this.height = height;
		this.style = style;
		this.el = document.createElement('figure');
		this.el.className = 'chart';
		this.el.dataset.kind = kind ? 'pps' : 'bps';
		const cap = document.createElement('figcaption');
		cap.textContent = title;
		this.body = document.createElement('div');
		this.body.className = 'chart-body';
		this.el.append(cap, this.body);
		parent.append(this.el);
		this.key = null;
		this.u = null;
		// Follows the layout (window resize, grid reflow); one setSize per frame at most.
		this.ro = new ResizeObserver(() => {
			if (this.frame) return;
			this.frame = requestAnimationFrame(() => {
				this.frame = 0;
				const w = this.width();
				if (this.u && w !== this.u.width) this.u.setSize({ width: w, height: this.height });
			});
		});
		this.ro.observe(this.body);
	}

	width() {
		return Math.max(200, Math.floor(this.body.clientWidth || 400));
	}

	build(labels) {
		this.u?.destroy();
		const fmt = this.fmt || (this.kind ? fmtPps : fmtBits);
		const series = [{ value: (u, v) => (v == null ? '–' : fmtTime(v * 1000)) }];
		labels.forEach((label, i) => {
			const color = PALETTE[i % PALETTE.length];
			series.push({
				label,
				stroke: color,
				fill: color + '1f',
				width: 1.5,
				points: { show: false },
				value: (u, v) => (v == null ? '–' : fmt(v)),
				...(this.style ? this.style(label, i) : {}),
			});
		});
		this.u = new uPlot({
			width: this.width(),
			height: this.height,
			series,
			cursor: { drag: { x: false, y: false } },
			// Away from the cursor the legend shows the newest values: the "now" of a live chart.
			hooks: { setCursor: [(u) => this.legendLast(u)] },
			scales: { y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
			axes: [
				// 24-hour local times, as in the tables.
				{ ...AXIS, values: (u, splits) => splits.map(hhmm) },
				{ ...AXIS, size: 52, values: (u, vals) => vals.map(fmtShort) },
			],
		}, [[], ...labels.map(() => [])], this.body);
	}

	// ts: step starts in seconds; columns: one array per label, aligned to ts.
	setData(ts, labels, columns) {
		const key = labels.join('\u0000');
		if (key !== this.key) {
			this.build(labels);
			this.key = key;
		}
		this.u.setData([ts, ...columns]);
		this.legendLast(this.u);
		// What was drawn, for tests and for anyone inspecting the page.
		let nonzero = 0, total = 0;
		for (const c of columns) for (const v of c) if (v) {
			nonzero++;
			total += v;
		}
		this.el.dataset.series = labels.length;
		this.el.dataset.points = ts.length;
		this.el.dataset.nonzero = nonzero;
		this.el.dataset.total = Math.round(total);
		this.el.dataset.lastT = ts.length ? ts[ts.length - 1] : '';
	}

	legendLast(u) {
		const n = u.data[0].length;
		if (u.cursor.idx == null && n) u.setLegend({ idx: n - 1 });
	}

	destroy() {
		this.ro.disconnect();
		cancelAnimationFrame(this.frame);
		this.u?.destroy();
		this.el.remove();
	}
}
