// SPDX-License-Identifier: GPL-2.0
// The dashboard's shell: hash routing between views, the connection status in the header,
// and a context per view that owns its pollers and shows its API errors in the page. Only
// the view on screen polls; leaving it stops its pollers and aborts its requests.

import { onApiStatus, setToken, getToken, takeTokenFromHash } from './api.js';
import { h } from './dom.js';
import { Poller } from './live.js';
import { fmtTime } from './fmt.js';
import * as overview from './views/overview.js';
import * as top from './views/top.js';
import * as flows from './views/flows.js';
import * as box from './views/box.js';
import * as vni from './views/vni.js';
import * as alerts from './views/alerts.js';
import * as paths from './views/paths.js';
import * as latency from './views/latency.js';
import * as drops from './views/drops.js';

const VIEWS = { overview, top, flows, box, vni, alerts, paths, latency, drops };

class ViewCtx {
	constructor(main, route) {
		this.route = route;
		this.ctrl = new AbortController();
		this.signal = this.ctrl.signal;
		this.pollers = [];
		this.cleanups = [];
		this.errors = new Map();
		this.errEl = h('div', { class: 'view-errors', role: 'alert' });
		this.el = h('div', { class: 'view', dataset: { view: route.name } });
		main.replaceChildren(this.errEl, this.el);
	}

	// A task run now and every ms while the view is shown; its failures appear in the page
	// under label until it succeeds again.
	poll(label, ms, task) {
		const p = new Poller(async (signal) => {
			await task(signal);
			this.ok(label);
		}, ms, (e) => this.error(label, e));
		this.pollers.push(p);
		return p.start();
	}

	error(label, e) {
		if (this.signal.aborted) return;
		const status = e && e.status ? ` (HTTP ${e.status})` : '';
		this.errors.set(label, `${label}: ${e && e.message ? e.message : e}${status}`);
		this.showErrors();
	}

	ok(label) {
		if (this.errors.delete(label)) this.showErrors();
	}

	showErrors() {
		this.errEl.replaceChildren(...[...this.errors.values()].map((m) =>
			h('div', { class: 'error', text: m })));
	}

	onCleanup(fn) {
		this.cleanups.push(fn);
	}

	destroy() {
		this.ctrl.abort();
		for (const p of this.pollers) p.stop();
		for (const fn of this.cleanups) fn();
	}
}

// "#/flows?box=a" -> { name: 'flows', arg: '', params }; "#/box/edge-1" -> arg 'edge-1'.
function parseRoute() {
	const raw = location.hash.replace(/^#\/?/, '');
	const q = raw.indexOf('?');
	const path = q >= 0 ? raw.slice(0, q) : raw;
	const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
	const [name, ...rest] = path.split('/');
	const arg = rest.length ? decodeURIComponent(rest.join('/')) : '';
	return { name: VIEWS[name] ? name : 'overview', arg, params, path };
}

let current = null; // { ctx, view, instance }

function route() {
	if (takeTokenFromHash()) showTokenState();
	const r = parseRoute();
	document.querySelectorAll('#nav a').forEach((a) => {
		const on = a.dataset.view === r.name || (r.name === 'box' && a.dataset.view === 'overview');
		if (on) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	});
	// Same view, same path: let it take the new parameters without a rebuild.
	if (current && current.ctx.route.path === r.path && current.instance?.update) {
		current.ctx.route = r;
		current.instance.update(r.params);
		return;
	}
	current?.ctx.destroy();
	const ctx = new ViewCtx(document.getElementById('view'), r);
	const view = VIEWS[r.name];
	document.title = `${view.title(r)} · sitevisor`;
	current = { ctx, view, instance: view.mount(ctx) };
	window.scrollTo(0, 0);
}

// Header: when the post last answered, or why it did not.
const statusEl = document.getElementById('status');
const statusText = document.getElementById('status-text');
let lastOk = 0;

onApiStatus((s) => {
	if (s.ok) {
		lastOk = Date.now();
		statusEl.dataset.state = 'ok';
		statusText.textContent = `live · ${fmtTime(lastOk)}`;
	} else if (s.auth) {
		statusEl.dataset.state = 'auth';
		statusText.textContent = 'read token needed';
	} else if (s.error && s.error.status === 0) {
		statusEl.dataset.state = 'down';
		statusText.textContent = 'post unreachable';
	}
	showTokenState();
});

// After a while without answers (tab hidden, post slow) the header says so.
new Poller(async () => {
	if (lastOk && Date.now() - lastOk > 30000 && statusEl.dataset.state === 'ok') {
		statusEl.dataset.state = 'stale';
		statusText.textContent = `last update ${fmtTime(lastOk)}`;
	}
}, 5000).start();

const forget = document.getElementById('forget-token');
function showTokenState() {
	forget.hidden = !getToken();
}
forget.addEventListener('click', () => {
	setToken('');
	location.reload();
});

window.addEventListener('hashchange', route);
showTokenState();
route();
