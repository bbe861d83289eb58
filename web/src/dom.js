// SPDX-License-Identifier: GPL-2.0
// Small DOM helpers: element building without innerHTML (record fields are never parsed as
// markup), and tables whose rows are kept by key so a refresh touches only what changed.

export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false) continue;
		if (k === 'class') el.className = v;
		else if (k === 'text') el.textContent = v;
		else if (k === 'dataset') Object.assign(el.dataset, v);
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else if (k in el && typeof v !== 'string') el[k] = v;
		else el.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) if (c != null && c !== false) el.append(c);
	return el;
}

// A cell is a string, or { text, title, cls, href, bar } (href makes it a link, bar a share
// bar of that fraction).
function fillCell(td, c) {
	const spec = typeof c === 'object' && c !== null ? c : { text: c };
	const text = spec.text == null ? '' : String(spec.text);
	const bar = spec.bar == null ? '' : Math.max(0, Math.min(100, spec.bar * 100)).toFixed(1);
	const sig = [text, spec.title, spec.cls, spec.href, bar].join('\u0000');
	if (td._sig === sig) return;
	td._sig = sig;
	td.className = spec.cls || '';
	td.title = spec.title || '';
	if (bar) {
		const fill = h('div', { class: 'bar-fill' });
		fill.style.width = bar + '%';
		td.replaceChildren(h('div', { class: 'bar-track' }, fill));
	} else if (spec.href) {
		td.replaceChildren(h('a', { href: spec.href, text }));
	} else {
		td.textContent = text;
	}
}

// columns: [{ label, cls, sort: 'api_sort_field', title }]. onSort(field) is called with the
// field a header click asks for; setSort shows the current one.
export class DataTable {
	constructor(columns, { onSort, empty = 'Nothing in this range.' } = {}) {
		this.columns = columns;
		this.onSort = onSort;
		this.rows = new Map();
		this.loaded = false;
		this.tbody = h('tbody');
		this.ths = columns.map((c) => {
			const th = h('th', { class: c.cls, title: c.title, scope: 'col' }, c.label);
			if (c.sort && onSort) {
				th.classList.add('sortable');
				th.tabIndex = 0;
				th.dataset.sort = c.sort;
				const go = () => onSort(c.sort);
				th.addEventListener('click', go);
				th.addEventListener('keydown', (e) => e.key === 'Enter' && go());
			}
			return th;
		});
		this.emptyRow = h('tr', { class: 'empty' },
			h('td', { colSpan: columns.length, text: empty }));
		this.el = h('div', { class: 'table-wrap' },
			h('table', { class: 'data' }, h('thead', null, h('tr', null, this.ths)), this.tbody));
	}

	// sort: '-bytes' style; marks the header.
	setSort(sort) {
		const desc = sort?.startsWith('-');
		const field = sort?.replace(/^-/, '');
		for (const th of this.ths) {
			th.classList.toggle('sorted', th.dataset.sort === field);
			th.classList.toggle('desc', th.dataset.sort === field && desc);
			th.setAttribute('aria-sort', th.dataset.sort === field ?
				(desc ? 'descending' : 'ascending') : 'none');
		}
	}

	// items: array; key(item) a unique string; cells(item) the row's cells in column order;
	// rowAttrs(item) optional { cls, title, data }. Rows that were not there before are
	// marked "fresh" (except on the first load), so new records stand out briefly.
	set(items, key, cells, rowAttrs) {
		const seen = new Set();
		items.forEach((item, i) => {
			const k = key(item);
			seen.add(k);
			let tr = this.rows.get(k);
			if (!tr) {
				tr = h('tr', null, this.columns.map((c) => h('td')));
				if (this.loaded) {
					tr.classList.add('fresh');
					tr.addEventListener('animationend', () => tr.classList.remove('fresh'),
						{ once: true });
				}
				this.rows.set(k, tr);
			}
			const cs = cells(item);
			cs.forEach((c, j) => fillCell(tr.children[j], c));
			if (rowAttrs) {
				const a = rowAttrs(item);
				if (a.title !== undefined && tr.title !== a.title) tr.title = a.title;
				if (a.data) for (const [dk, dv] of Object.entries(a.data))
					if (tr.dataset[dk] !== String(dv)) tr.dataset[dk] = dv;
				if (a.cls) tr.classList.add(...a.cls.split(' '));
			}
			const at = this.tbody.children[i];
			if (at !== tr) this.tbody.insertBefore(tr, at || null);
		});
		for (const [k, tr] of this.rows)
			if (!seen.has(k)) {
				tr.remove();
				this.rows.delete(k);
			}
		if (!items.length) this.tbody.append(this.emptyRow);
		else this.emptyRow.remove();
		this.loaded = true;
	}

	// Forget the rows (new filter): the next set() is a first load again.
	reset() {
		this.rows.clear();
		this.tbody.replaceChildren();
		this.loaded = false;
	}
}

// Options as [value, label] pairs; keeps the selection when the set is replaced.
export function setOptions(select, options) {
	const cur = select.value;
	const sig = JSON.stringify(options);
	if (select._sig === sig) return;
	select._sig = sig;
	select.replaceChildren(...options.map(([v, l]) => h('option', { value: v, text: l })));
	if (options.some(([v]) => v === cur)) select.value = cur;
}

// A row of buttons acting as one choice.
export function segmented(options, value, onChange, name) {
	const el = h('div', { class: 'seg', role: 'group', 'aria-label': name });
	const buttons = options.map(([v, l]) => h('button', {
		type: 'button', text: l, dataset: { value: v },
		onclick: () => {
			set(v);
			onChange(v);
		},
	}));
	const set = (v) => {
		for (const b of buttons) b.setAttribute('aria-pressed', b.dataset.value === v);
	};
	set(value);
	el.append(...buttons);
	el.setValue = set;
	return el;
}
