// SPDX-License-Identifier: GPL-2.0
// Polling that costs nothing when nobody looks: a Poller runs its task, waits, runs it again
// (never two at once), pauses while the tab is hidden and stops with its view. LiveSeries
// keeps a sliding window of /api/v1/series points and fetches only the newest steps on each
// tick instead of the whole window.

import { apiGet } from './api.js';

const pollers = new Set();

document.addEventListener('visibilitychange', () => {
	for (const p of pollers) {
		if (document.hidden) p.pause();
		else p.resume();
	}
});

export class Poller {
	// task(signal) is async; onError(err) sees its failures (aborts excluded).
	constructor(task, intervalMs, onError) {
		this.task = task;
		this.interval = intervalMs;
		this.onError = onError;
		this.timer = null;
		this.running = false;
		this.stopped = true;
		this.ctrl = null;
	}

	start() {
		this.stopped = false;
		pollers.add(this);
		if (!document.hidden) this.run();
		return this;
	}

	stop() {
		this.stopped = true;
		pollers.delete(this);
		clearTimeout(this.timer);
		this.timer = null;
		this.ctrl?.abort();
	}

	pause() {
		clearTimeout(this.timer);
		this.timer = null;
	}

	resume() {
		if (!this.stopped && !this.running && !this.timer) this.run();
	}

	// Runs now (e.g. after the user changed a filter); a run in progress is cancelled first.
	now() {
		if (this.stopped) return;
		clearTimeout(this.timer);
		this.timer = null;
		if (this.running) this.ctrl?.abort();
		this.run();
	}

	setInterval(ms) {
		this.interval = ms;
	}

	async run() {
		const ctrl = new AbortController();
		this.ctrl = ctrl;
		this.running = true;
		try {
			await this.task(ctrl.signal);
		} catch (e) {
			if (!ctrl.signal.aborted && this.onError) this.onError(e);
		}
		if (this.ctrl !== ctrl) return; // a newer run took over
		this.running = false;
		if (!this.stopped && !document.hidden && this.interval > 0)
			this.timer = setTimeout(() => {
				this.timer = null;
				this.run();
			}, this.interval);
	}
}

// Late records: an agent delivers a step's records up to an export interval after it ends,
// so the last few steps are fetched again on every tick.
const REFETCH_STEPS = 3;

export class LiveSeries {
	constructor(filter, { window = 900, step = 10 } = {}) {
		this.filter = filter;
		this.window = window;
		this.step = step;
		this.points = new Map(); // t (s) -> [bytes, packets]
		this.last = null; // newest t
		this.until = null; // the post's "now" of the last answer, in seconds
	}

	async update(signal) {
		const step = this.step;
		const since = this.last == null ? Date.now() / 1000 - this.window :
			this.last - (REFETCH_STEPS - 1) * step;
		const a = await apiGet('series', { ...this.filter, since: Math.floor(since), step },
			{ signal });
		for (const p of a.points) this.points.set(p.t, [p.bytes, p.packets]);
		this.until = a.until_ns / 1e9;
		const pts = a.points;
		if (pts.length) this.last = Math.max(this.last ?? 0, pts[pts.length - 1].t);
		// Trim by the post's clock, not the browser's: they may differ.
		const oldest = this.until - this.window;
		for (const t of this.points.keys()) if (t + step <= oldest) this.points.delete(t);
	}

	// Per-second rate at step start t; kind 0 = bits, 1 = packets. The step still running is
	// divided by the time it has had so far, so the last point does not dip.
	rate(t, kind) {
		const p = this.points.get(t);
		if (!p) return null;
		let secs = this.step;
		if (this.until != null && this.until - t < secs) secs = Math.max(1, this.until - t);
		return kind === 0 ? (p[0] * 8) / secs : p[1] / secs;
	}

	// The rate over the last `seconds`.
	recent(kind, seconds = 60) {
		if (this.until == null) return null;
		const from = Math.floor((this.until - seconds) / this.step) * this.step;
		let sum = 0;
		for (const [t, p] of this.points) if (t >= from) sum += kind === 0 ? p[0] * 8 : p[1];
		return sum / Math.max(1, this.until - from);
	}
}

// The common time axis for several LiveSeries with the same step: every step start in the
// window up to the newest point any of them has.
export function timeGrid(series) {
	let last = null, until = null, step = 10, window = 900;
	for (const s of series) {
		if (s.last != null && (last == null || s.last > last)) last = s.last;
		if (s.until != null && (until == null || s.until > until)) until = s.until;
		step = s.step;
		window = s.window;
	}
	if (last == null) return [];
	const first = Math.floor((until - window) / step) * step + step;
	const ts = [];
	for (let t = first; t <= last; t += step) ts.push(t);
	return ts;
}
