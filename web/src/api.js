// SPDX-License-Identifier: GPL-2.0
// Talking to the post: GET /api/v1/... with the read token as a Bearer header, errors as
// ApiError with the post's own {"error": ...} sentence, and one shared token prompt when
// the post answers 401 (every waiting request retries once the token is entered).

const TOKEN_KEY = 'sitevisor.token';
// The post has a few worker threads; more requests in flight than that only queue there
// and delay the ones the user is waiting for.
const MAX_IN_FLIGHT = 4;

export class ApiError extends Error {
	constructor(status, message, path) {
		super(message);
		this.status = status;
		this.path = path;
	}
}

let memToken = '';

export function getToken() {
	try {
		return localStorage.getItem(TOKEN_KEY) || '';
	} catch {
		return memToken; // storage refused (privacy settings): keep it for this page only
	}
}

export function setToken(t) {
	memToken = t;
	try {
		if (t) localStorage.setItem(TOKEN_KEY, t);
		else localStorage.removeItem(TOKEN_KEY);
	} catch {
		/* memToken holds it */
	}
}

// "#token=..." (alone or as one &-separated part of the fragment) is stored and removed
// from the address bar, so it does not linger in history or get copied along with links.
export function takeTokenFromHash() {
	const h = location.hash.replace(/^#/, '');
	const m = h.match(/(^|[&?])token=([^&]*)/);
	if (!m) return false;
	setToken(decodeURIComponent(m[2]));
	let rest = (h.slice(0, m.index) + h.slice(m.index + m[0].length)).replace(/[?&]$/, '');
	if (rest.startsWith('&')) rest = rest.slice(1);
	history.replaceState(null, '', location.pathname + location.search + '#' + (rest || '/'));
	return true;
}

// Listeners told about every answer: { ok: true } or { ok: false, error }.
const statusListeners = new Set();
export function onApiStatus(fn) {
	statusListeners.add(fn);
}
function tellStatus(s) {
	for (const fn of statusListeners) fn(s);
}

let inFlight = 0;
const queue = [];

function acquire(signal) {
	if (inFlight < MAX_IN_FLIGHT) {
		inFlight++;
		return Promise.resolve();
	}
	return new Promise((resolve, reject) => {
		const entry = { resolve, signal };
		queue.push(entry);
		signal?.addEventListener('abort', () => {
			const i = queue.indexOf(entry);
			if (i >= 0) queue.splice(i, 1);
			reject(signal.reason);
		}, { once: true });
	});
}

function release() {
	const next = queue.shift();
	if (next) next.resolve(); // the slot passes on
	else inFlight--;
}

export function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {}))
		if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
	const s = q.toString();
	return s ? '?' + s : '';
}

function untilAborted(promise, signal) {
	if (!signal) return promise;
	return new Promise((resolve, reject) => {
		if (signal.aborted) return reject(signal.reason);
		signal.addEventListener('abort', () => reject(signal.reason), { once: true });
		promise.then(resolve, reject);
	});
}

// GET /api/v1/NAME?params; resolves with the parsed JSON, rejects with ApiError (or the
// abort reason when signal fires).
export async function apiGet(name, params, { signal } = {}) {
	const path = '/api/v1/' + name + query(params);
	for (;;) {
		const token = getToken();
		let r, body;
		await acquire(signal);
		try {
			const headers = { Accept: 'application/json' };
			if (token) headers.Authorization = 'Bearer ' + token;
			r = await fetch(path, { headers, signal, cache: 'no-store' });
			body = await r.json().catch(() => null);
		} catch (e) {
			if (signal?.aborted) throw e;
			const err = new ApiError(0, `cannot reach the post (${e.message})`, path);
			tellStatus({ ok: false, error: err });
			throw err;
		} finally {
			release();
		}
		if (r.status === 401) {
			tellStatus({ ok: false, auth: true });
			// Another request may already have brought a new token: retry with it first.
			if (getToken() === token)
				await untilAborted(askToken(token ? 'That token was not accepted.' : ''), signal);
			continue;
		}
		if (!r.ok || !body) {
			const err = new ApiError(r.status, body?.error || `HTTP ${r.status} ${r.statusText}`,
				path);
			tellStatus({ ok: false, error: err });
			throw err;
		}
		tellStatus({ ok: true });
		return body;
	}
}

// The token prompt: one at a time, shared by every request that got a 401.
let pending = null;

function askToken(reason) {
	if (pending) return pending.promise;
	const dlg = document.getElementById('token-dialog');
	const form = dlg.querySelector('form');
	const input = dlg.querySelector('input');
	const msg = dlg.querySelector('.token-msg');
	msg.textContent = reason;
	msg.hidden = !reason;
	input.value = '';
	dlg.hidden = false;
	input.focus();
	let resolve;
	const promise = new Promise((r) => (resolve = r));
	const submit = (ev) => {
		ev.preventDefault();
		const t = input.value.trim();
		if (!t) return;
		form.removeEventListener('submit', submit);
		setToken(t);
		dlg.hidden = true;
		pending = null;
		resolve();
	};
	form.addEventListener('submit', submit);
	pending = { promise };
	return promise;
}
