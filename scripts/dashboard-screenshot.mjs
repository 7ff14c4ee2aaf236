// The picture of docs/grafana-dashboard.json in docs/OBSERVABILITY.md, made from a real run: an
// application on the AWS KMS emulator (testkit) encrypts and decrypts, meets provider faults and
// cache expiry, and re-encrypts a target; its prom-client registry is scraped once
// (docs/dashboard-scrape.txt). Grafana is not available here, so this script draws each panel of
// the dashboard JSON itself from that scrape: instant values (counter totals since the start, not
// rates), each panel's series grouped by the labels its query sums by; the page says so. Headless
// Chromium (Debian's `chromium`) takes the screenshot. Run after `tsc -b`:
//   node scripts/dashboard-screenshot.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import { openAtrest, registerMetrics } from '@atrest/core';
import { startAwsKmsEmulator } from '@atrest/testkit';

const root = fileURLToPath(new URL('..', import.meta.url));
const docs = join(root, 'docs');

/** A workload with faults and cache expiry; returns the Prometheus text of one scrape. */
async function scrapeRun() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const kms = await startAwsKmsEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'atrest-dashboard-'));
  try {
    const db = join(dir, 'app.db');
    const keys = Object.entries(kms.providerKeys).map(([k, v]) => `${k} = ${v}`);
    const ini = join(dir, 'app.ini');
    writeFileSync(
      ini,
      `[security]\nencryption_provider = awskms.main\n[security.encryption]\ndata_keys_cache_ttl = 2s\n` +
        `[security.encryption.awskms.main]\n${keys.join('\n')}\nmax_attempts = 2\nretry_delay = 10ms\n` +
        `[secrets_migration]\ntargets = datasources.password\n[database]\npath = ${db}\n`,
    );
    const app = await openAtrest({ configFile: ini, appRoot: root, env: {} });
    const registry = new Registry();
    await registerMetrics(registry, app);
    const sql = new Database(db);
    sql.exec('CREATE TABLE datasources (id INTEGER PRIMARY KEY, password TEXT)');
    const insert = sql.prepare('INSERT INTO datasources (password) VALUES (?)');
    for (let i = 0; i < 400; i++)
      insert.run(i % 4 === 0 ? `legacy-${i}` : await app.encryptText(`pw-${i}`, { target: 'datasources.password' }));
    const sealed = [];
    for (let i = 0; i < 300; i++) sealed.push(await app.encryptText(`v${i}`, { scope: `s${i % 3}`, context: `c${i}` }));
    for (let round = 0; round < 3; round++) {
      if (round === 1) kms.injectFault({ kind: 'internal-failure', operations: ['Decrypt'], times: 2 });
      if (round === 2) kms.injectFault({ kind: 'service-unavailable', operations: ['Decrypt'], times: 4 });
      for (let i = 0; i < sealed.length; i++)
        await app.decryptText(sealed[i], { context: `c${i}` }).catch(() => undefined);
      await app.decryptText(sealed[0], { context: 'wrong' }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2100)); // the cache expires between rounds
    }
    kms.clearFaults();
    await app.migrations.rotateDataKeys();
    await app.migrations.reEncrypt();
    for (let i = 0; i < 50; i++) await app.secrets.set(`secret-${i}`, `value ${i}`);
    const text = await registry.metrics();
    sql.close();
    await app.close();
    return text;
  } finally {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `name{labels} value` lines as { name, labels, value }. */
function parseScrape(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v, unit) =>
  !Number.isFinite(v)
    ? '—'
    : unit === 'percentunit'
      ? `${(v * 100).toFixed(1)}%`
      : unit === 's'
        ? `${v < 0.001 ? `${(v * 1e6).toFixed(0)} µs` : v < 1 ? `${(v * 1000).toFixed(1)} ms` : `${v.toFixed(2)} s`}`
        : Number.isInteger(v)
          ? String(v)
          : v.toFixed(2);

/** A quantile from cumulative buckets, as histogram_quantile does (linear within a bucket). */
function quantile(q, buckets) {
  const sorted = buckets.filter((b) => b.le !== Infinity).sort((a, b) => a.le - b.le);
  const total = buckets.find((b) => b.le === Infinity)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of sorted) {
    if (b.count >= rank) return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    lower = b.le;
    below = b.count;
  }
  return lower;
}

/** One query's series at this instant: the metric it reads, summed by the labels of its `by (…)`. */
function evaluate(expr, samples) {
  const by =
    /by \(([^)]*)\)/
      .exec(expr)?.[1]
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== 'le') ?? [];
  const quant = /histogram_quantile\(([\d.]+)/.exec(expr);
  const metric = /(atrest_[a-z_]+)/.exec(expr)?.[1] ?? '';
  const filter = [...(/\{([^}]*)\}/.exec(expr)?.[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)];
  const groups = new Map();
  for (const s of samples) {
    if (s.name !== metric || filter.some(([, k, v]) => s.labels[k] !== v)) continue;
    const key = by.map((l) => s.labels[l] ?? '').join(' ');
    const g = groups.get(key) ?? { labels: s.labels, value: 0, buckets: new Map() };
    if (quant) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      g.buckets.set(le, (g.buckets.get(le) ?? 0) + s.value);
    } else g.value += s.value;
    groups.set(key, g);
  }
  if (expr.includes(' / ')) {
    // The hit ratio: the first metric (filtered) over the same metric unfiltered.
    const all = samples.filter((s) => s.name === metric).reduce((n, s) => n + s.value, 0);
    const part = [...groups.values()].reduce((n, g) => n + g.value, 0);
    return [{ labels: {}, value: all === 0 ? Number.NaN : part / all }];
  }
  return [...groups.values()].map((g) => ({
    labels: g.labels,
    value: quant
      ? quantile(
          Number(quant[1]),
          [...g.buckets].map(([le, count]) => ({ le, count })),
        )
      : g.value,
  }));
}

function legend(format, labels) {
  return format.replace(/\{\{(\w+)\}\}/g, (_, l) => labels[l] ?? '');
}

/** Grafana's grid: 24 columns; a row unit in pixels. */
const ROW = 20;

/** One labelled horizontal bar; failures and errors in red. */
function bar(name, fraction, text) {
  const bad = /failure|DECRYPT|UNAVAIL|errors/.test(name) ? 'bad' : '';
  const fill = `<span class="fill ${bad}" style="width:${Math.max(0.5, fraction * 100)}%"></span>`;
  return (
    `<div class="bar"><span class="name">${escapeHtml(name)}</span><span class="track">${fill}</span>` +
    `<span class="val">${escapeHtml(text)}</span></div>`
  );
}

function renderPanel(panel, samples) {
  const unit = panel.fieldConfig?.defaults?.unit ?? 'short';
  const rows = panel.targets.flatMap((t) =>
    evaluate(t.expr, samples).map((r) => ({ ...r, name: legend(t.legendFormat, r.labels) })),
  );
  const colW = 1200 / 24;
  const { x, y, w, h } = panel.gridPos;
  const style = `left:${x * colW}px;top:${y * ROW}px;width:${w * colW - 8}px;height:${h * ROW - 8}px`;
  let body;
  if (rows.length === 0) body = '<div class="empty">no data</div>';
  else if (panel.type === 'stat') {
    body = `<div class="stats">${rows
      .map((r) => {
        const bad = panel.title === 'Provider health' && r.value === 0;
        const text = panel.title === 'Provider health' ? (r.value === 1 ? 'UP' : 'DOWN') : fmt(r.value, unit);
        const big = `<div class="big">${escapeHtml(text)}</div>`;
        return `<div class="stat ${bad ? 'bad' : ''}">${big}<div>${escapeHtml(r.name)}</div></div>`;
      })
      .join('')}</div>`;
  } else {
    const max = Math.max(...rows.map((r) => (Number.isFinite(r.value) ? r.value : 0)), 1e-12);
    body = rows
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => bar(r.name, Number.isFinite(r.value) ? r.value / max : 0, fmt(r.value, unit)))
      .join('');
  }
  const note =
    panel.type === 'timeseries' && !panel.title.includes('latency') ? ' <small>(totals of this run)</small>' : '';
  const title = `<h2>${escapeHtml(panel.title.replace(' per second', ''))}${note}</h2>`;
  return `<section class="panel" style="${style}">${title}${body}</section>`;
}

const dashboard = JSON.parse(readFileSync(join(docs, 'grafana-dashboard.json'), 'utf8'));
const scrape = await scrapeRun();
writeFileSync(join(docs, 'dashboard-scrape.txt'), scrape);
const samples = parseScrape(scrape);
const height = Math.max(...dashboard.panels.map((p) => (p.gridPos.y + p.gridPos.h) * ROW)) + 90;
const css = [
  'body{margin:0;background:#111217;color:#ccccdc;font:13px Inter,Helvetica,Arial,sans-serif}',
  'header{padding:12px 16px;border-bottom:1px solid #2c2e33}',
  'header h1{font-size:17px;margin:0 0 4px;color:#fff}header p{margin:0;color:#8e8e99;font-size:12px}',
  '.grid{position:relative;margin:12px 16px}',
  '.panel{position:absolute;box-sizing:border-box;background:#181b1f;border:1px solid #2c2e33;',
  'border-radius:3px;padding:8px 10px;overflow:hidden}',
  'h2{font-size:13px;margin:0 0 8px;color:#fff;font-weight:500}small{color:#8e8e99;font-weight:400}',
  '.bar{display:flex;align-items:center;margin:3px 0;font-size:11px}',
  '.name{width:46%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
  '.track{flex:1;height:10px;background:#22252b;margin:0 6px}',
  '.fill{display:block;height:10px;background:#73bf69}.fill.bad{background:#f2495c}',
  '.val{width:70px;text-align:right;color:#fff}.stats{display:flex;gap:12px;flex-wrap:wrap}',
  '.stat{flex:1;min-width:90px;text-align:center;padding:6px;background:#1f3322;border-radius:3px}',
  '.stat.bad{background:#4a1f24}.big{font-size:28px;color:#fff;margin:4px 0}.empty{color:#8e8e99}',
].join('');
const notice =
  'Not Grafana: every panel of docs/grafana-dashboard.json drawn by scripts/dashboard-screenshot.mjs ' +
  'from one Prometheus scrape (docs/dashboard-scrape.txt) of a real run on the AWS KMS emulator with ' +
  'provider faults and cache expiry. Instant values: counter totals of the run where Grafana shows rates.';
const panels = dashboard.panels.map((p) => renderPanel(p, samples)).join('');
const html =
  `<!doctype html><meta charset="utf-8"><style>${css}</style>` +
  `<header><h1>${escapeHtml(dashboard.title)}</h1><p>${escapeHtml(notice)}</p></header>` +
  `<div class="grid" style="height:${height - 90}px">${panels}</div>`;
const page = join(tmpdir(), 'atrest-dashboard.html');
writeFileSync(page, html);
execFileSync(
  'chromium',
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    `--window-size=1232,${height}`,
    `--screenshot=${join(docs, 'grafana-dashboard.png')}`,
    `file://${page}`,
  ],
  { stdio: 'ignore' },
);
rmSync(page);
console.log(`docs/grafana-dashboard.png and docs/dashboard-scrape.txt written (${samples.length} samples)`);
