// SPDX-License-Identifier: GPL-2.0
// Drives the dashboard in Debian's chromium (playwright-core from web/node_modules) against
// real posts filled by gen.mjs, and prints PASS:/FAIL: lines. Every wait is bounded.
//
//   node check.mjs --url URL --url2 URL2 --read-token T --token T --out DIR --profile DIR
//
// URL: a post with generated history and live batches arriving (--token: its ingest token,
// for an attack the alerts view must show as it happens); URL2: a post started with
// --read-token T. Screenshots go to DIR/dashboard-*.png.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import {
	BOXES, FLOODER, FLOOD_TARGET, PATH_FLOW, PATH_LOST, PATH_PACKETS, PATH_WAY, SCANNER, SCAN_PORTS,
	SCAN_TARGET, SPECIAL_ADDR, SPECIAL_COUNT, SWEEPER, SWEEP_HOSTS, TOP_SRC, VNIS, attack,
} from './gen.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const arg = (k) => {
	const i = process.argv.indexOf(k);
	return i > 0 ? process.argv[i + 1] : undefined;
};
const URL1 = arg('--url'), URL2 = arg('--url2'), READ_TOKEN = arg('--read-token');
const OUT = arg('--out'), PROFILE = arg('--profile'), TOKEN = arg('--token');
const WAIT = 10000;

let failed = false;
const pass = (m) => console.log(`PASS: dashboard ${m}`);
const fail = (m) => {
	console.log(`FAIL: dashboard ${m}`);
	failed = true;
};
async function step(name, fn) {
	const t0 = Date.now();
	try {
		await fn();
		pass(name);
	} catch (e) {
		fail(`${name}: ${String(e.message || e).split('\n')[0]}`);
	}
	console.error(`  (${name}: ${Date.now() - t0} ms)`);
}
function assert(cond, msg) {
	if (!cond) throw new Error(msg);
}

async function api(base, name, params = {}, token) {
	const q = new URLSearchParams(params).toString();
	const r = await fetch(`${base}/api/v1/${name}${q ? '?' + q : ''}`,
		{ headers: token ? { Authorization: 'Bearer ' + token } : {} });
	if (!r.ok) throw new Error(`API ${name}: HTTP ${r.status}`);
	return r.json();
}
const nowS = () => Math.floor(Date.now() / 1000);

// Everything that went wrong in the browser; allow(kind, text) excuses what a step expects.
const problems = [];
let allow = () => false;
let apiRequests = [];

function watch(page) {
	page.on('console', (m) => {
		if (m.type() === 'error' && !allow('console', m.text())) problems.push(`console error: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('request', (r) => {
		if (r.url().includes('/api/v1/')) apiRequests.push({ url: r.url(), at: Date.now() });
	});
	page.on('requestfailed', (r) => {
		const why = r.failure()?.errorText;
		// Leaving a view aborts its requests on purpose.
		if (why === 'net::ERR_ABORTED' && r.url().includes('/api/v1/')) return;
		problems.push(`request failed: ${r.url()} ${why}`);
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && !allow('http', `${r.status()} ${r.url()}`))
			problems.push(`HTTP ${r.status()}: ${r.url()}`);
	});
}

async function launch(dir) {
	fs.rmSync(dir, { recursive: true, force: true });
	fs.mkdirSync(dir, { recursive: true });
	const ctx = await chromium.launchPersistentContext(dir, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		viewport: { width: 1440, height: 900 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	ctx.setDefaultTimeout(WAIT);
	const page = ctx.pages()[0] || await ctx.newPage();
	watch(page);
	return { ctx, page };
}

const shot = (page, name) => page.screenshot({ path: path.join(OUT, `dashboard-${name}.png`), fullPage: true });
const rowsOf = (page, table) => page.$$eval(`${table} tbody tr[data-id], ${table} tbody tr[data-key], ${table} tbody tr[data-box]`,
	(trs) => trs.map((tr) => ({ ...tr.dataset, cells: [...tr.children].map((td) => td.textContent) })));
const chartAttrs = (page, sel) => page.$$eval(sel, (els) => els.map((e) => ({ ...e.dataset })));

// Waits until fn (run in the page) returns something truthy; returns it.
async function until(page, fn, arg, ms = WAIT) {
	const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 200 });
	return h.jsonValue();
}

const boxNames = Object.keys(BOXES).sort();

async function main() {
	const { ctx, page } = await launch(path.join(PROFILE, 'a'));

	await step('overview lists the generated boxes', async () => {
		await page.goto(URL1 + '/#/');
		await until(page, (n) => document.querySelectorAll('#boxes-table tr[data-box]').length === n, boxNames.length);
		const rows = await rowsOf(page, '#boxes-table');
		assert(JSON.stringify(rows.map((r) => r.box)) === JSON.stringify(boxNames), `boxes ${rows.map((r) => r.box)}`);
		for (const r of rows) assert(r.cells[4] === BOXES[r.box].join(', '), `interfaces of ${r.box}: ${r.cells[4]}`);
	});

	await step('overview charts are drawn with data per box and per interface', async () => {
		await until(page, (n) => {
			const c = document.querySelectorAll('#site-charts figure.chart');
			const boxes = document.querySelectorAll('.box-ifaces figure.chart');
			return c.length === 2 && [...c].every((e) => e.dataset.series === String(n) && Number(e.dataset.nonzero) > 0) &&
				boxes.length === 2 * n && [...boxes].every((e) => Number(e.dataset.nonzero) > 0);
		}, boxNames.length);
		for (const b of boxNames) {
			const [bits] = await chartAttrs(page, `.box-ifaces[data-box="${b}"] figure.chart[data-kind="bps"]`);
			assert(bits.series === String(BOXES[b].length), `${b}: ${bits.series} lines`);
		}
		// Pixels, not just numbers: the canvas has coloured lines on it.
		const inked = await page.$eval('#site-charts canvas', (cv) => {
			const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
			let n = 0;
			for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
			return n;
		});
		assert(inked > 500, `only ${inked} pixels drawn`);
		const bits = await page.textContent('.cards .card:nth-child(3) .value');
		assert(/bit\/s$/.test(bits), `site rate card says "${bits}"`);
	});
	await shot(page, 'overview');

	await step('overview refreshes live: flow counts and chart data grow', async () => {
		// The "flow records stored" card: the sum over the boxes. (Functions, not strings: the
		// page's CSP forbids eval, for tests too.)
		const count = () => page.$eval('.cards .card:nth-child(2) .value', (e) => Number(e.textContent.replace(/,/g, '')));
		const total = () => page.$eval('#site-charts figure.chart[data-kind="pps"]', (e) => e.dataset.total);
		const c0 = await count();
		const t0 = await total();
		await until(page, (c0) => Number(document.querySelector('.cards .card:nth-child(2) .value').textContent.replace(/,/g, '')) > c0, c0, 12000);
		const api1 = (await api(URL1, 'boxes')).boxes.reduce((a, b) => a + b.flows, 0);
		assert(api1 >= await count(), 'page shows more flows than the API');
		await until(page, (t0) => document.querySelector('#site-charts figure.chart[data-kind="pps"]').dataset.total !== t0, t0, 8000);
		const status = await page.textContent('#status-text');
		assert(/^live/.test(status), `header says "${status}"`);
	});

	await step('a hidden tab stops polling and resumes when shown', async () => {
		await page.evaluate(() => {
			Object.defineProperty(document, 'hidden', { value: true, configurable: true });
			Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
			document.dispatchEvent(new Event('visibilitychange'));
		});
		await page.waitForTimeout(1500); // a tick in progress may finish
		apiRequests = [];
		await page.waitForTimeout(6000);
		assert(apiRequests.length === 0, `${apiRequests.length} API requests while hidden`);
		await page.evaluate(() => {
			delete document.hidden;
			delete document.visibilityState;
			document.dispatchEvent(new Event('visibilitychange'));
		});
		await page.waitForTimeout(1500);
		assert(apiRequests.length > 0, 'no API request after the tab was shown again');
	});

	await step('top talkers show the expected top source and switch grouping', async () => {
		await page.click('#nav a[data-view="top"]');
		await until(page, () => document.querySelectorAll('#top-table tr[data-key]').length > 0);
		const rows = await rowsOf(page, '#top-table');
		assert(rows[0].key === TOP_SRC, `first source ${rows[0].key}`);
		const a = await api(URL1, 'top', { by: 'src', since: nowS() - 900, limit: 25 });
		assert(rows.length === a.items.length, `${rows.length} rows, API ${a.items.length}`);
		assert(rows[0].cells[1] === TOP_SRC, 'first row text');
		await shot(page, 'top');
		await page.click('#top-by button[data-value="port"]');
		await until(page, () => location.hash.includes('by=port') && document.querySelector('#top-table tr[data-key]')?.dataset.key === '6|873');
		await page.click('#top-range button[data-value="1h"]');
		await page.click('#top-order button[data-value="packets"]');
		await until(page, () => location.hash.includes('range=1h') && location.hash.includes('order=packets') &&
			document.querySelectorAll('#top-table tr[data-key]').length > 0 && document.querySelector('#top-title').textContent.includes('packets'));
		const p = await api(URL1, 'top', { by: 'port', order: 'packets', since: nowS() - 3600, limit: 1 });
		const first = await page.$eval('#top-table tr[data-key]', (tr) => tr.dataset.key);
		assert(first === `${p.items[0].protocol}|${p.items[0].dst_port}`, `first port ${first}`);
	});

	await step('flows table: address filter matches the API count and paging moves', async () => {
		await page.click('#nav a[data-view="flows"]');
		await until(page, () => document.querySelectorAll('#flows-table tr[data-id]').length === 50);
		const n = (await api(URL1, 'flows', { addr: SPECIAL_ADDR, since: nowS() - 3600, limit: 1000 })).flows.length;
		assert(n === SPECIAL_COUNT, `API has ${n} records of ${SPECIAL_ADDR}`);
		await page.fill('#f-addr', SPECIAL_ADDR);
		await page.press('#f-addr', 'Enter');
		await page.selectOption('#f-limit', '25');
		await until(page, () => location.hash.includes('limit=25') && document.querySelectorAll('#flows-table tr[data-id]').length === 25 &&
			document.querySelector('#page-info').dataset.more === 'true');
		let rows = await rowsOf(page, '#flows-table');
		assert(rows.every((r) => r.cells.join(' ').includes(SPECIAL_ADDR)), 'a row without the address');
		const first = rows.map((r) => r.id);
		await page.click('#next');
		await until(page, (n) => location.hash.includes('offset=25') && document.querySelectorAll('#flows-table tr[data-id]').length === n &&
			document.querySelector('#page-info').dataset.more === 'false', n - 25);
		rows = await rowsOf(page, '#flows-table');
		assert(rows.length + first.length === SPECIAL_COUNT, `${first.length} + ${rows.length} rows`);
		const page2 = (await api(URL1, 'flows', { addr: SPECIAL_ADDR, since: nowS() - 3600, limit: 25, offset: 25 })).flows.map((f) => String(f.id));
		assert(JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(page2), 'page 2 differs from the API');
		assert(!first.some((id) => page2.includes(id)), 'pages overlap');
		assert(await page.isDisabled('#next'), 'next enabled on the last page');
		await page.click('#prev');
		await until(page, () => !location.hash.includes('offset') && document.querySelectorAll('#flows-table tr[data-id]').length === 25);
	});

	await step('flows table: protocol and box filters narrow, sorting works', async () => {
		await page.click('#f-reset');
		await page.selectOption('#f-protocol', 'udp');
		await until(page, () => location.hash.includes('protocol=udp') && !location.hash.includes('addr=') &&
			document.querySelectorAll('#flows-table tr[data-id]').length === 50 &&
			[...document.querySelectorAll('#flows-table tr[data-id]')].every((tr) => tr.dataset.proto === 'UDP'));
		let rows = await rowsOf(page, '#flows-table');
		assert(new Set(rows.map((r) => r.box)).size > 1, 'UDP rows from one box only');
		await page.selectOption('#f-box', 'edge-fra-1');
		await until(page, () => location.hash.includes('box=edge-fra-1') && document.querySelectorAll('#flows-table tr[data-id]').length > 0 &&
			[...document.querySelectorAll('#flows-table tr[data-id]')].every((tr) => tr.dataset.box === 'edge-fra-1' && tr.dataset.proto === 'UDP'));
		await page.click('#flows-table th[data-sort="bytes"]');
		await until(page, () => location.hash.includes('sort=-bytes') && document.querySelectorAll('#flows-table tr[data-id]').length > 0);
		await page.waitForTimeout(300);
		rows = await rowsOf(page, '#flows-table');
		const bytes = rows.map((r) => Number(r.bytes));
		assert(bytes.every((b, i) => i === 0 || bytes[i - 1] >= b), 'rows not by bytes, descending');
		const a = await api(URL1, 'flows', { protocol: 'udp', box: 'edge-fra-1', sort: '-bytes', since: nowS() - 3600, limit: 1 });
		assert(Number(rows[0].bytes) === a.flows[0].bytes, `largest ${rows[0].bytes}, API ${a.flows[0].bytes}`);
	});

	await step('flows table live: new records arrive, other views do not poll', async () => {
		await page.click('#f-reset');
		await until(page, () => location.hash === '#/flows' && document.querySelectorAll('#flows-table tr[data-id]').length === 50);
		apiRequests = [];
		const top = await page.$eval('#flows-table tr[data-id]', (tr) => tr.dataset.id);
		await until(page, (top) => Number(document.querySelector('#flows-table tr[data-id]').dataset.id) > Number(top), top, 12000);
		const other = apiRequests.filter((r) => !/\/api\/v1\/flows\?/.test(r.url));
		assert(other.length === 0, `requests of other views: ${other.map((r) => r.url).join(' ')}`);
		await page.waitForTimeout(2700); // let the highlight of new rows fade for the picture
		await shot(page, 'flows');
	});

	await step('API errors are shown in the page', async () => {
		allow = (kind, text) => kind === 'http' ? /^400 .*addr=not-an-ip/.test(text) :
			/status of 400/.test(text);
		await page.goto(URL1 + '/#/flows?addr=not-an-ip');
		const msg = await until(page, () => document.querySelector('.view-errors .error')?.textContent);
		assert(/addr is not an IP address/.test(msg), `error shown: ${msg}`);
	});

	await step('box drill-down shows interfaces, top talkers and flows', async () => {
		await page.goto(URL1 + '/#/');
		allow = () => false; // the bad filter's view is gone
		await page.click('#boxes-table a:text-is("edge-ams-1")');
		await until(page, () => location.hash === '#/box/edge-ams-1');
		await until(page, (n) => {
			const ifs = document.querySelectorAll('#box-ifaces .iface');
			return ifs.length === n && [...ifs].every((s) => [...s.querySelectorAll('figure.chart')].every((c) => c.dataset.series === '2' && Number(c.dataset.nonzero) > 0)) &&
				document.querySelectorAll('#box-top-src tr[data-key]').length > 0 &&
				document.querySelectorAll('#box-flows tr[data-id]').length === 20;
		}, BOXES['edge-ams-1'].length);
		const rows = await rowsOf(page, '#box-flows');
		assert(rows.every((r) => r.box === 'edge-ams-1'), 'a flow of another box');
		const a = await api(URL1, 'top', { by: 'src', box: 'edge-ams-1', since: nowS() - 900, limit: 1 });
		const first = await page.$eval('#box-top-src tr[data-key]', (tr) => tr.dataset.key);
		assert(first === a.items[0].src_addr, `top source ${first}, API ${a.items[0].src_addr}`);
		await page.waitForTimeout(2700);
		await shot(page, 'box');
	});

	await step('overlay view groups VXLAN flows by VNI', async () => {
		await page.click('#nav a[data-view="vni"]');
		await until(page, (vnis) => vnis.every((v) => document.querySelectorAll(`#vni-${v} tr[data-src]`).length > 0), VNIS);
		const inner = await page.$$eval('#vni-200 tr[data-src]', (trs) => trs.map((tr) => tr.children[0].textContent));
		assert(inner.includes('198.18.200.3 → 198.18.200.4'), `VNI 200 pairs: ${inner}`);
		const tunnels = await page.textContent('#vni-200 .vni-meta');
		assert(tunnels.includes('192.0.2.3 → 192.0.2.4'), `VNI 200 tunnels: ${tunnels}`);
		const scope = await page.textContent('#vni-scope');
		assert(/newest flow records/.test(scope), `scope: ${scope}`);
		await shot(page, 'vni');
	});
	await step('alerts view lists the detected attacks with evidence and refreshes live', async () => {
		await page.click('#nav a[data-view="alerts"]');
		await until(page, () => document.querySelectorAll('#alerts-table tr[data-id]').length === 2);
		const a = await api(URL1, 'alerts', { since: nowS() - 86400 });
		let rows = await rowsOf(page, '#alerts-table');
		assert(JSON.stringify(rows.map((r) => r.id)) === JSON.stringify(a.alerts.map((x) => String(x.id))),
			`rows ${rows.map((r) => r.id)}, API ${a.alerts.map((x) => x.id)}`);
		const scan = rows.find((r) => r.type === 'port_scan');
		assert(scan && scan.src === SCANNER && scan.target === SCAN_TARGET, `scan row ${JSON.stringify(scan)}`);
		assert(scan.cells[5].startsWith(`${SCAN_PORTS} ports: tcp/1001, tcp/1002`), `scan evidence "${scan.cells[5]}"`);
		assert(scan.cells[8] === 'core-sw-1 (eth3) · edge-ams-1 (eth0)' || scan.cells[8] === 'edge-ams-1 (eth0) · core-sw-1 (eth3)',
			`scan seen by "${scan.cells[8]}"`);
		const sweep = rows.find((r) => r.type === 'host_sweep');
		assert(sweep && sweep.src === SWEEPER && sweep.cells[5].startsWith(`${SWEEP_HOSTS} hosts: 198.18.10.101`),
			`sweep row ${JSON.stringify(sweep)}`);
		await attack(URL1, TOKEN);
		await until(page, () => document.querySelector('#alerts-table tr[data-type="syn_flood"]'), null, 12000);
		rows = await rowsOf(page, '#alerts-table');
		const flood = rows.find((r) => r.type === 'syn_flood');
		assert(flood.src === FLOODER && flood.target === FLOOD_TARGET && flood.cells[7] === '1,500',
			`flood row ${JSON.stringify(flood)}`);
		await page.waitForTimeout(2700);
		await shot(page, 'alerts');
		await page.selectOption('#alerts-type', 'port_scan');
		await until(page, () => location.hash.includes('type=port_scan') &&
			[...document.querySelectorAll('#alerts-table tr[data-id]')].map((tr) => tr.dataset.type).join() === 'port_scan');
		await page.click(`#alerts-table tr[data-type="port_scan"] td:nth-child(4) a`);
		await until(page, (src) => location.hash.startsWith('#/flows?') && location.hash.includes('src_addr=' + src) &&
			document.querySelectorAll('#flows-table tr[data-id]').length > 0, SCANNER);
		const flows = await rowsOf(page, '#flows-table');
		assert(flows.length === Math.min(50, 2 * SCAN_PORTS) && flows.every((r) => r.cells.join(' ').includes(SCANNER)),
			`${flows.length} flow rows from the source link`);
	});

	await step('latency view lists the slowest flows and DNS answers the API gives', async () => {
		const since = nowS() - 3600;
		const slow = await api(URL1, 'flows', { since, sort: '-rtt_max_ns', min_rtt_ns: 1, limit: 25 });
		const dns = await api(URL1, 'flows', { since, sort: '-dns_latency_ns', min_dns_latency_ns: 0, limit: 25 });
		assert(slow.flows.length > 0 && dns.flows.length > 0, 'the generated history has latency records');
		await page.click('#nav a[data-view="latency"]');
		await until(page, () => document.querySelectorAll('#latency-slowest tbody tr:not(.empty)').length > 0 &&
			document.querySelectorAll('#latency-dns tbody tr:not(.empty)').length > 0);
		const rows = await rowsOf(page, '#latency-slowest');
		const top = slow.flows[0];
		assert(rows[0].cells.join(' ').includes(top.src_addr), `slowest row ${rows[0].cells.join(' ')}`);
		const charted = await page.$eval('#view figure.chart', (f) => Number(f.dataset.series));
		assert(charted > 0, 'RTT chart has lines');
	});

	await step('paths view draws the API\'s links and a flow\'s path', async () => {
		const q = new URLSearchParams(Object.entries(PATH_FLOW).map(([k, v]) => [k, String(v)]));
		// The post finalizes the generated packets --path-hold seconds after they arrived.
		let topo;
		for (let i = 0; i < 20; i++) {
			topo = await api(URL1, 'paths/topology', { since: nowS() - 3600 });
			if (topo.links.length >= 3) break;
			await new Promise((r) => setTimeout(r, 500));
		}
		const inter = topo.links.filter((l) => l.kind === 'link');
		assert(inter.length === 2 && topo.links.length === 3, `API links: ${JSON.stringify(topo.links.map((l) => [l.from.box, l.to.box]))}`);
		await page.click('#nav a[data-view="paths"]');
		await until(page, (n) => document.querySelectorAll('#paths-links tr[data-kind]').length === n, topo.links.length);
		const edges = await page.$$eval('#paths-graph g.edge', (gs) => gs.map((g) => `${g.dataset.from}>${g.dataset.to}`));
		const want = inter.map((l) => `${l.from.box}>${l.to.box}`);
		assert(JSON.stringify(edges.sort()) === JSON.stringify(want.sort()), `graph edges ${edges}, API ${want}`);
		const nodes = await page.$$eval('#paths-graph g.node', (gs) => gs.map((g) => g.dataset.box).sort());
		assert(JSON.stringify(nodes) === JSON.stringify([...topo.boxes].sort()), `graph boxes ${nodes}`);
		const hop = topo.links.find((l) => l.kind === 'hop');
		assert(hop.from.box === 'core-sw-1' && hop.lost === PATH_LOST, `in-box hop: ${JSON.stringify(hop)}`);
		const red = await page.$eval('#paths-graph g.node[data-box="core-sw-1"]', (g) => g.classList.contains('bad') && g.dataset.lost);
		assert(red === String(PATH_LOST), `core-sw-1 not drawn as lossy: ${red}`);
		// A flow's paths, from the address as a flow table links it.
		await page.goto(URL1 + '/#/paths?' + q);
		await until(page, (n) => document.querySelectorAll('#paths-list tr[data-hash]').length === n, PATH_PACKETS);
		const lost = await page.$$eval('#paths-list tr[data-lost="1"]', (trs) => trs.length);
		assert(lost === PATH_LOST, `lost paths listed: ${lost}`);
		// Lost inside core-sw-1: the kernel's reason for the flow there in that minute.
		await until(page, (n) => [...document.querySelectorAll('#paths-list tr[data-lost="1"] td:nth-child(4)')]
			.filter((td) => / · kernel: NETFILTER_DROP ×\d+$/.test(td.textContent)).length === n, PATH_LOST);
		const drawn = await page.$eval('#paths-graph polyline.flow-path', (p) => p.dataset.boxes);
		assert(drawn === [...new Set(PATH_WAY.map((w) => w[0]))].join(' '), `drawn path: ${drawn}`);
		const hops = await page.$$eval('#paths-hops tr[data-box]', (trs) => trs.map((tr) => `${tr.dataset.box}/${tr.dataset.iface}/${tr.dataset.dir}`));
		assert(JSON.stringify(hops) === JSON.stringify(PATH_WAY.map((w) => w.join('/'))), `hops: ${hops}`);
		await shot(page, 'paths');
	});
	await step('drops view charts drops by box and reason and lists the top dropped flows', async () => {
		await page.click('#nav a[data-view="drops"]');
		await until(page, () => document.querySelectorAll('#drops-flows tr[data-box]').length > 0 &&
			document.querySelector('#drops-charts figure.chart').dataset.series === '1');
		const d = await api(URL1, 'drops', { since: nowS() - 3600 });
		assert(d.series.length === 1 && d.series[0].box === 'core-sw-1' && d.series[0].reason === 'NETFILTER_DROP' &&
			d.series[0].total === PATH_LOST, `API series ${JSON.stringify(d.series.map((s) => [s.box, s.reason, s.total]))}`);
		const rows = await rowsOf(page, '#drops-flows');
		assert(rows.length === 1 && rows[0].box === 'core-sw-1' && rows[0].drops === String(PATH_LOST) &&
			rows[0].cells[9] === `NETFILTER_DROP ${PATH_LOST}`, `drop rows ${JSON.stringify(rows)}`);
		const chart = (await chartAttrs(page, '#drops-charts figure.chart'))[0];
		assert(Number(chart.nonzero) > 0, `drops chart ${JSON.stringify(chart)}`);
		await shot(page, 'drops');
		await page.click('#drops-flows tbody tr td:nth-child(10) a');
		await until(page, () => location.hash.startsWith('#/flows?') && location.hash.includes('drops=1') &&
			document.querySelectorAll('#flows-table tr[data-id]').length > 0);
		const flows = await rowsOf(page, '#flows-table');
		assert(flows.length === PATH_LOST, `${flows.length} flow rows with drops`);
	});
	await step('box selectors list the site\'s boxes, keep a box the post does not list, and filter', async () => {
		const names = (await api(URL1, 'boxes')).boxes.map((b) => b.name);
		const opts = (sel) => page.$$eval(`${sel} option`, (os) => os.map((o) => o.value));
		for (const view of ['alerts', 'drops', 'top']) {
			await page.evaluate((v) => { location.hash = `#/${v}?box=gone-box`; }, view);
			await until(page, (v) => document.querySelectorAll(`#${v}-box option`).length > 2, view);
			const got = await opts(`#${view}-box`);
			assert(JSON.stringify(got) === JSON.stringify(['', ...names, 'gone-box']), `${view}: options ${got}`);
			assert(await page.$eval(`#${view}-box`, (s) => s.value) === 'gone-box', `${view}: not the URL's box`);
			await page.selectOption(`#${view}-box`, 'core-sw-1');
			await until(page, () => location.hash.includes('box=core-sw-1'));
		}
		await until(page, () => document.querySelectorAll('#top-table tr[data-key]').length > 0);
		const top = await rowsOf(page, '#top-table');
		const a = await api(URL1, 'top', { by: 'src', box: 'core-sw-1', since: nowS() - 900, limit: 25 });
		assert(top.length === a.items.length, `top for core-sw-1: ${top.length} rows, API ${a.items.length}`);
	});
	await ctx.close();

	// A post that wants a read token: the prompt, a wrong token, the right one, #token=.
	allow = (kind, text) => kind === 'http' ? text.startsWith('401 ' + URL2 + '/api/v1/') :
		/status of 401/.test(text);
	const b = await launch(path.join(PROFILE, 'b'));
	await step('token prompt appears on 401 and the page works after entering it', async () => {
		await b.page.goto(URL2 + '/#/');
		await b.page.waitForSelector('#token-dialog:not([hidden])');
		await shot(b.page, 'token');
		await b.page.fill('#token-dialog input', 'wrong-token-0');
		await b.page.press('#token-dialog input', 'Enter');
		await until(b.page, () => !document.querySelector('#token-dialog').hidden &&
			/not accepted/.test(document.querySelector('#token-dialog .token-msg').textContent));
		await b.page.fill('#token-dialog input', READ_TOKEN);
		await b.page.click('#token-dialog button[type="submit"]');
		await until(b.page, (n) => document.querySelector('#token-dialog').hidden &&
			document.querySelectorAll('#boxes-table tr[data-box]').length === n, boxNames.length);
		assert(await b.page.evaluate(() => localStorage.getItem('sitevisor.token')) === READ_TOKEN, 'token not kept');
		await b.page.reload();
		await until(b.page, (n) => document.querySelectorAll('#boxes-table tr[data-box]').length === n, boxNames.length);
		assert(await b.page.isHidden('#token-dialog'), 'prompt again after reload');
	});
	await b.ctx.close();
	const c = await launch(path.join(PROFILE, 'c'));
	await step('#token= in the URL is taken, kept and removed from the address', async () => {
		await c.page.goto(URL2 + '/#token=' + encodeURIComponent(READ_TOKEN));
		await until(c.page, (n) => document.querySelectorAll('#boxes-table tr[data-box]').length === n, boxNames.length);
		assert(await c.page.isHidden('#token-dialog'), 'prompt shown');
		const hash = await c.page.evaluate(() => location.hash);
		assert(!hash.includes('token'), `address still has it: ${hash}`);
		assert(await c.page.evaluate(() => localStorage.getItem('sitevisor.token')) === READ_TOKEN, 'token not kept');
	});
	await c.ctx.close();

	if (problems.length) fail(`browser problems (${problems.length}): ${[...new Set(problems)].slice(0, 6).join(' | ')}`);
	else pass('had no console errors or failed requests');
}

const guard = setTimeout(() => {
	fail('check.mjs ran out of time');
	process.exit(1);
}, 110000);
main().catch((e) => fail(`stopped: ${e.message.split('\n')[0]}`)).finally(() => {
	clearTimeout(guard);
	process.exit(failed ? 1 : 0);
});
