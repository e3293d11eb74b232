// Reports in each site's local time (docs/REPORTS.md): a small fixed data set
// across DST changes in America/New_York and Europe/Berlin and a zone without
// DST (Asia/Ho_Chi_Minh), inserted as raw rows and rolled up by the rollup
// check's repair, against hand-computed answers; a seeded random data set
// ingested through the worker endpoint and corrected through the API, whose
// rollups must equal the raw aggregation; CSV equals JSON; isolation between
// sites and tenants; bad input answers 400 and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Server, call, login } from './lib/server.mjs';

let server, sys, A, B, R, crop;
const T = (iso) => Date.parse(iso);
const MIN = 60000;

async function tenant(name, zones) {
  const t = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name } })).json;
  const sites = [];
  for (const [i, timezone] of zones.entries()) {
    const r = await call(server, 'POST', '/v1/sites', { token: sys, body: { name: `${name} ${i} ${timezone}`, timezone, tenant_id: t.id } });
    assert.equal(r.status, 201, r.text);
    sites.push(r.json);
  }
  const mk = async (username, role, site_id) => {
    const r = await call(server, 'POST', '/v1/users', { token: sys, body: { username, password: 'reports-password-1', role, tenant_id: t.id, site_id } });
    assert.equal(r.status, 201, r.text);
    return (await login(server, username, 'reports-password-1')).access_token;
  };
  const slug = name.toLowerCase();
  return { tenant: t, sites, admin: await mk(`${slug}-admin`, 'tenant_admin'), siteViewer: await mk(`${slug}-viewer`, 'viewer', sites[0].id) };
}

/** GET a report as JSON (asserting 200). */
async function report(token, name, query) {
  const r = await call(server, 'GET', `/v1/reports/${name}?${new URLSearchParams(query)}`, { token });
  assert.equal(r.status, 200, `${name} ${JSON.stringify(query)}: ${r.text}`);
  return r.json;
}

function parseCsv(text) {
  const rows = [];
  for (const line of text.split('\r\n').filter(Boolean)) {
    // Quoted cells are text; unquoted ones numbers, or null when empty.
    const cells = [];
    let cur = '', quoted = false, wasQuoted = false;
    const end = () => { cells.push(wasQuoted ? cur : cur === '' ? null : Number(cur)); cur = ''; wasQuoted = false; };
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
      } else if (ch === '"') quoted = wasQuoted = true;
      else if (ch === ',') end(); else cur += ch;
    }
    end();
    rows.push(cells);
  }
  return rows;
}

/** The CSV form of a report, as a list of objects with the JSON's types. */
async function reportCsv(token, name, query, viaAccept = false) {
  const q = new URLSearchParams(viaAccept ? query : { ...query, format: 'csv' });
  const r = await call(server, 'GET', `/v1/reports/${name}?${q}`, { token, headers: viaAccept ? { Accept: 'text/csv' } : {} });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  const head = r.text.split('\r\n')[0].split(',');
  const rows = parseCsv(r.text).slice(1);
  return rows.map((cells) => Object.fromEntries(head.map((h, i) => [h, cells[i]])));
}

function sqlRows(q) {
  return server.sql(q).trim().split('\n').filter(Boolean).map((l) => l.split('|'));
}

const rollupState = () => server.sql('SELECT COUNT(*), COALESCE(SUM(visits), 0), COALESCE(SUM(duration_ms), 0) FROM report_hours') +
  server.sql('SELECT COUNT(*), COALESCE(SUM(visits), 0) FROM report_days') + server.sql('SELECT COUNT(*), COALESCE(SUM(LENGTH(visitors)), 0) FROM report_day_sets');

before(async () => {
  server = await new Server().start();
  sys = (await login(server, 'admin', server.adminPassword)).access_token;
  A = await tenant('Fixed', ['America/New_York', 'Europe/Berlin', 'Asia/Ho_Chi_Minh']);
  B = await tenant('Other', ['Europe/Paris']);
  R = await tenant('Random', ['America/New_York', 'Asia/Ho_Chi_Minh', 'Australia/Sydney']);
  const tmp = join(server.dir, 'crop.jpg');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0x808080:s=48x48', '-frames:v', '1', tmp]);
  crop = readFileSync(tmp).toString('base64');
});
after(async () => { await server.stop(); server.cleanup(); });

// --- the fixed data set --------------------------------------------------------------------
// Customers 500001.. (c1..c7) and one staff member of tenant A, inserted as raw rows.
const [NY, BER, HCM] = [0, 1, 2];
const FIXED = [
  // site, customer (0 = erased), first seen, minutes, gender, age
  [NY, 1, '2026-03-08T01:30:00-05:00', 10, 'male', 30], //     spring forward: before the gap
  [NY, 2, '2026-03-08T03:30:00-04:00', 20, 'female', 22], //   after it (local hour 3)
  [NY, 1, '2026-03-08T23:30:00-04:00', 30, 'male', 31], //     last hour of the 23-hour day
  [NY, 3, '2026-03-09T00:10:00-04:00', 5, null, null], //      just after local midnight
  [NY, 2, '2026-11-01T01:30:00-04:00', 15, 'female', 23], //   fall back: the first 01:30 (EDT)
  [NY, 4, '2026-11-01T01:30:00-05:00', 25, 'male', 70], //     the second 01:30 (EST)
  [NY, 4, '2026-11-01T23:59:00-05:00', 1, 'male', 70], //      last minute of the 25-hour day
  [BER, 1, '2026-03-29T01:30:00+01:00', 12, 'male', 30], //    Berlin spring forward
  [BER, 5, '2026-03-29T03:30:00+02:00', 8, 'female', 17],
  [BER, 0, '2026-03-29T12:00:00+02:00', 3, null, null], //     an erased customer's visit
  [BER, 5, '2026-10-25T02:30:00+02:00', 6, 'female', 17], //   Berlin fall back: first 02:30
  [BER, 6, '2026-10-25T02:30:00+01:00', 9, 'male', 50], //     second 02:30
  [HCM, 1, '2026-03-08T23:50:00+07:00', 40, 'male', 30], //    no DST; before local midnight
  [HCM, 7, '2026-03-09T00:10:00+07:00', 4, 'female', 40], //   after it
];
const STAFF_PASSES = [[NY, '2026-03-08T10:00:00-04:00'], [HCM, '2026-03-09T09:00:00+07:00']];

test('the fixed data set: inserted raw, found by the rollup check, repaired', async () => {
  const t = A.tenant.id, now = Date.now();
  const customers = [1, 2, 3, 4, 5, 6, 7].map((c) => `INSERT INTO customers (id, tenant_id, visit_count, created_at, updated_at) VALUES (${500000 + c}, ${t}, 1, ${now}, ${now});`);
  const visits = FIXED.map(([s, c, at, min, g, age]) =>
    `INSERT INTO visits (tenant_id, site_id, customer_id, first_seen_at, last_seen_at, local_day, detections, is_new, age, gender, gender_probability, best_quality, created_at, updated_at) VALUES (${t}, ${A.sites[s].id}, ${c ? 500000 + c : 'NULL'}, ${T(at)}, ${T(at) + min * MIN}, '${at.slice(0, 10)}', 1, 0, ${age ?? 'NULL'}, ${g ? `'${g}'` : 'NULL'}, ${g ? 0.9 : 'NULL'}, 0.8, ${now}, ${now});`);
  const staff = [`INSERT INTO staff (id, tenant_id, name, created_at, updated_at) VALUES (500001, ${t}, 'Barista', ${now}, ${now});`,
    ...STAFF_PASSES.map(([s, at], i) => `INSERT INTO staff_passes (tenant_id, site_id, staff_id, seen_at, event_id, created_at) VALUES (${t}, ${A.sites[s].id}, 500001, ${T(at)}, 'fixed-${i}', ${now});`)];
  server.sql([...customers, ...visits, ...staff].join(' '));
  const range = ['--tenant-id', String(t), '--from', '2026-01-01T00:00:00Z', '--to', '2027-01-01T00:00:00Z'];
  const found = server.admin('rollups-check', ...range);
  assert.equal(found.sites, 3);
  assert.ok(found.days >= 3 * 365, JSON.stringify(found));
  // NY: Mar 8, Mar 9, Nov 1; Berlin: Mar 29, Oct 25; HCM: Mar 8, Mar 9.
  assert.equal(found.days_differing, 7, JSON.stringify(found));
  assert.equal(found.days_repaired, 0);
  const repaired = server.admin('rollups-check', ...range, '--repair', 'yes');
  assert.equal(repaired.days_repaired, 7);
  const again = server.admin('rollups-check', ...range);
  assert.equal(again.days_differing, 0, JSON.stringify(again));
  assert.equal(again.hours_differing + again.visitors_differing, 0);
});

test('summary of each site\'s own local day, three zones, a visitor of two sites counted once', async () => {
  const s = await report(A.admin, 'summary', { from: '2026-03-08', to: '2026-03-08' });
  assert.equal(s.range_kind, 'local_dates');
  assert.equal(s.sites.length, 3);
  // NY's 23-hour Mar 8: c1 01:30, c2 03:30, c1 23:30; HCM's Mar 8: c1 23:50. Berlin: nothing.
  assert.equal(s.visits, 4);
  assert.equal(s.unique_visitors, 2);
  assert.equal(s.new_visitors, 2);
  assert.equal(s.returning_visitors, 0);
  assert.equal(s.staff_passes, 1);
  assert.equal(s.anonymous_visits, 0);
  assert.equal(s.average_duration_s, (10 + 20 + 30 + 40) * 60 / 4);
  assert.equal(s.median_duration_s, (20 + 30) * 60 / 2);
  assert.equal(s.returning_lookback_days, 365);
});

test('day series: a 23-hour and a 25-hour day are one day each; visits across local midnight split', async () => {
  const spring = await report(A.admin, 'series', { from: '2026-03-07', to: '2026-03-09', site_id: A.sites[NY].id, granularity: 'day' });
  assert.deepEqual(spring.series.map((b) => [b.period, b.visits, b.unique_visitors]),
    [['2026-03-07', 0, 0], ['2026-03-08', 3, 2], ['2026-03-09', 1, 1]]);
  const fall = await report(A.admin, 'series', { from: '2026-11-01', to: '2026-11-01', site_id: A.sites[NY].id });
  assert.deepEqual(fall.series.map((b) => [b.period, b.visits, b.unique_visitors, b.average_duration_s]),
    [['2026-11-01', 3, 2, (15 + 25 + 1) * 60 / 3]]);
  const berlin = await report(A.admin, 'series', { from: '2026-03-29', to: '2026-03-29', site_id: A.sites[BER].id });
  assert.deepEqual(berlin.series.map((b) => [b.visits, b.unique_visitors, b.anonymous_visits]), [[3, 2, 1]]);
});

test('hour series: the repeated hour holds both, the skipped hour is empty (New York and Berlin)', async () => {
  const fall = await report(A.admin, 'series', { from: '2026-11-01', to: '2026-11-01', site_id: A.sites[NY].id, granularity: 'hour' });
  assert.equal(fall.series.length, 24);
  const at = (r, h) => r.series.find((b) => b.period.endsWith(`T${String(h).padStart(2, '0')}:00`));
  assert.deepEqual([at(fall, 1).visits, at(fall, 1).unique_visitors], [2, 2]);
  assert.equal(at(fall, 23).visits, 1);
  assert.equal(fall.series.reduce((n, b) => n + b.visits, 0), 3);
  const spring = await report(A.admin, 'series', { from: '2026-03-08', to: '2026-03-08', site_id: A.sites[NY].id, granularity: 'hour' });
  assert.deepEqual([1, 2, 3, 10, 23].map((h) => at(spring, h).visits), [1, 0, 1, 0, 1]);
  assert.equal(at(spring, 10).staff_passes, 1);
  const berlinFall = await report(A.admin, 'series', { from: '2026-10-25', to: '2026-10-25', site_id: A.sites[BER].id, granularity: 'hour' });
  assert.deepEqual([at(berlinFall, 2).visits, at(berlinFall, 2).unique_visitors], [2, 2]);
  const berlinSpring = await report(A.admin, 'series', { from: '2026-03-29', to: '2026-03-29', site_id: A.sites[BER].id, granularity: 'hour' });
  assert.deepEqual([1, 2, 3, 12].map((h) => at(berlinSpring, h).visits), [1, 0, 1, 1]);
});

test('two zones in one series: each site buckets in its own zone, keyed by local date', async () => {
  const sites = `${A.sites[NY].id},${A.sites[HCM].id}`;
  const local = await report(A.admin, 'series', { from: '2026-03-08', to: '2026-03-09', site_id: sites });
  // Mar 8: NY c1, c2, c1 + HCM c1 -> 4 visits, 2 visitors; Mar 9: NY c3 + HCM c7.
  assert.deepEqual(local.series.map((b) => [b.period, b.visits, b.unique_visitors]), [['2026-03-08', 4, 2], ['2026-03-09', 2, 2]]);
  // The same instants for both sites: [Mar 8 00:00Z, Mar 9 00:00Z) is Mar 7 19:00 .. Mar 8 19:00 in NY
  // (c1 01:30, c2 03:30: label 2026-03-08) and Mar 8 07:00 .. Mar 9 07:00 in HCM (c1 23:50 on the
  // 8th, c7 00:10 on the 9th).
  const instants = await report(A.admin, 'series', { from: '2026-03-08T00:00:00Z', to: '2026-03-09T00:00:00Z', site_id: sites });
  assert.equal(instants.range_kind, 'instants');
  assert.deepEqual(instants.series.map((b) => [b.period, b.visits, b.unique_visitors]),
    [['2026-03-07', 0, 0], ['2026-03-08', 3, 2], ['2026-03-09', 1, 1]]);
  const weeks = await report(A.admin, 'series', { from: '2026-03-01', to: '2026-03-31', site_id: sites, granularity: 'week' });
  assert.deepEqual(weeks.series.map((b) => b.period), ['2026-02-23', '2026-03-02', '2026-03-09', '2026-03-16', '2026-03-23', '2026-03-30']);
  assert.deepEqual(weeks.series.map((b) => b.visits), [0, 4, 2, 0, 0, 0]); // Mar 8 is a Sunday
  const months = await report(A.admin, 'series', { from: '2026-03-01', to: '2026-11-30', granularity: 'month' });
  assert.deepEqual(months.series.filter((b) => b.visits).map((b) => [b.period, b.visits, b.unique_visitors]),
    [['2026-03', 9, 5], ['2026-10', 2, 2], ['2026-11', 3, 2]]);
});

test('RFC 3339 ranges: partial local days at the edges come from the raw visits', async () => {
  const ny = A.sites[NY].id;
  // NY's Mar 8 starts at 05:00Z (EST) and Mar 9 at 04:00Z (EDT): whole Mar 8 + one hour of Mar 9.
  const a = await report(A.admin, 'summary', { from: '2026-03-08T05:00:00Z', to: '2026-03-09T05:00:00Z', site_id: ny });
  assert.deepEqual([a.visits, a.unique_visitors, a.staff_passes], [4, 3, 1]);
  const b = await report(A.admin, 'summary', { from: '2026-03-08T07:00:00Z', to: '2026-03-09T04:30:00Z', site_id: ny });
  assert.deepEqual([b.visits, b.unique_visitors], [3, 3]);
  const c = await report(A.admin, 'summary', { from: '2026-03-08T07:31:00Z', to: '2026-03-08T07:32:00Z', site_id: ny });
  assert.deepEqual([c.visits, c.unique_visitors, c.median_duration_s], [0, 0, null]);
});

test('heat map by local weekday and hour', async () => {
  const h = await report(A.admin, 'heatmap', { from: '2026-11-01', to: '2026-11-01', site_id: A.sites[NY].id });
  assert.equal(h.cells.length, 7 * 24);
  const cell = (d, hour) => h.cells.find((c) => c.weekday === d && c.hour === hour);
  assert.equal(cell(6, 1).visits, 2); // 2026-11-01 is a Sunday
  assert.equal(cell(6, 23).visits, 1);
  assert.equal(h.cells.reduce((n, c) => n + c.visits, 0), 3);
});

test('gender and age bands count visits; unknown stays unknown', async () => {
  const d = await report(A.admin, 'demographics', { from: '2026-03-01', to: '2026-03-31' });
  // March: NY 4 visits (m, f, m, -), Berlin 3 (m, f, erased), HCM 2 (m, f).
  assert.equal(d.visits, 9);
  assert.deepEqual(d.gender, { male: 4, female: 3, unknown: 2 });
  const bands = Object.fromEntries(d.age_bands.map((b) => [b.band, b.visits]));
  assert.deepEqual(bands, { '0-17': 1, '18-24': 1, '25-34': 4, '35-44': 1, '45-54': 0, '55-64': 0, '65+': 0, unknown: 2 });
});

test('new vs returning follows the tenant\'s look-back', async () => {
  const q = { from: '2026-11-01', to: '2026-11-01', site_id: A.sites[NY].id };
  let r = await report(A.admin, 'new-returning', q);
  // c2 visited in March (within 365 days): returning; c4 is new.
  assert.deepEqual(r.rows.map((x) => [x.site_id, x.unique_visitors, x.new_visitors, x.returning_visitors]),
    [[A.sites[NY].id, 2, 1, 1], [null, 2, 1, 1]]);
  const set = await call(server, 'PATCH', `/v1/tenants/${A.tenant.id}/settings`, { token: A.admin, body: { returning_lookback_days: 30 } });
  assert.equal(set.status, 200, set.text);
  assert.equal(set.json.returning_lookback_days, 30);
  r = await report(A.admin, 'new-returning', q);
  assert.deepEqual(r.rows[0].returning_visitors, 0);
  assert.equal((await report(A.admin, 'summary', q)).new_visitors, 2);
  await call(server, 'PATCH', `/v1/tenants/${A.tenant.id}/settings`, { token: A.admin, body: { returning_lookback_days: 365 } });
  // Across sites a visitor counts once: c1 visited NY, Berlin and HCM in March.
  r = await report(A.admin, 'new-returning', { from: '2026-03-01', to: '2026-03-31' });
  const total = r.rows.at(-1);
  assert.equal(total.unique_visitors, 5); // c1, c2, c3, c5, c7
  assert.equal(r.rows.slice(0, 3).reduce((n, x) => n + x.unique_visitors, 0), 3 + 2 + 2);
});

test('per-site comparison with the previous period of equal length', async () => {
  const r = await report(A.admin, 'sites', { from: '2026-03-09', to: '2026-03-09' });
  assert.equal(r.previous_from, '2026-03-08');
  assert.equal(r.previous_to, '2026-03-08');
  const ny = r.sites.find((x) => x.site_id === A.sites[NY].id);
  assert.deepEqual([ny.visits, ny.previous_visits, ny.unique_visitors, ny.previous_unique_visitors, ny.previous_staff_passes], [1, 3, 1, 2, 1]);
  assert.ok(Math.abs(ny.visits_change - (1 - 3) / 3) < 1e-12);
  const ber = r.sites.find((x) => x.site_id === A.sites[BER].id);
  assert.deepEqual([ber.visits, ber.previous_visits, ber.visits_change], [0, 0, null]);
  const inst = await report(A.admin, 'sites', { from: '2026-03-09T04:00:00Z', to: '2026-03-10T04:00:00Z', site_id: A.sites[NY].id });
  assert.equal(inst.previous_from, '2026-03-08T04:00:00.000Z');
  assert.deepEqual([inst.sites[0].visits, inst.sites[0].previous_visits], [1, 3]);
});

test('CSV equals JSON for every report', async () => {
  const q = { from: '2026-03-01', to: '2026-11-30' };
  const s = await report(A.admin, 'summary', q);
  const [row] = await reportCsv(A.admin, 'summary', q);
  for (const [k, v] of Object.entries(row)) assert.equal(v, s[k], k);
  for (const [name, key, extra] of [['series', 'series', { granularity: 'week' }], ['heatmap', 'cells', {}], ['demographics', 'rows', {}],
    ['new-returning', 'rows', {}], ['sites', 'sites', {}], ['series', 'series', { granularity: 'hour', from: '2026-11-01', to: '2026-11-02' }]]) {
    const j = (await report(A.admin, name, { ...q, ...extra }))[key];
    for (const viaAccept of [false, true]) {
      const c = await reportCsv(A.admin, name, { ...q, ...extra }, viaAccept);
      assert.equal(c.length, j.length, name);
      c.forEach((r, i) => { for (const [k, v] of Object.entries(r)) assert.deepEqual(v, j[i][k], `${name} row ${i} ${k}`); });
    }
  }
});

test('isolation: a site viewer sees their site only; another tenant sees nothing of A', async () => {
  const mine = await report(A.siteViewer, 'summary', { from: '2026-03-08', to: '2026-03-08' });
  assert.deepEqual(mine.sites.map((x) => x.id), [A.sites[NY].id]);
  assert.equal(mine.visits, 3);
  for (const name of ['summary', 'series', 'heatmap', 'demographics', 'new-returning', 'sites']) {
    const other = await call(server, 'GET', `/v1/reports/${name}?from=2026-03-01&to=2026-03-31&site_id=${A.sites[BER].id}`, { token: A.siteViewer });
    assert.equal(other.status, 404, `${name}: ${other.text}`);
    const foreign = await call(server, 'GET', `/v1/reports/${name}?from=2026-03-01&to=2026-03-31&site_id=${A.sites[NY].id}`, { token: B.admin });
    assert.equal(foreign.status, 404, `${name}: ${foreign.text}`);
    assert.equal(foreign.json.error.code, 'not_found');
  }
  const theirs = await report(B.admin, 'summary', { from: '2026-03-01', to: '2026-03-31' });
  assert.deepEqual(theirs.sites.map((x) => x.id), [B.sites[0].id]);
  assert.deepEqual([theirs.visits, theirs.unique_visitors, theirs.staff_passes], [0, 0, 0]);
});

test('bad input: a clear 400 and nothing changed', async () => {
  const before = rollupState();
  const settings = (await call(server, 'GET', `/v1/tenants/${A.tenant.id}/settings`, { token: A.admin })).json;
  const cases = [
    ['summary', {}, 'missing_field'],
    ['summary', { from: '2026-03-01' }, 'missing_field'],
    ['summary', { from: '2026-13-01', to: '2026-13-02' }, 'invalid_range'],
    ['summary', { from: '2026-02-30', to: '2026-03-02' }, 'invalid_range'],
    ['summary', { from: '2026-03-02', to: '2026-03-01' }, 'invalid_range'],
    ['summary', { from: '2026-03-01', to: '2026-03-02T00:00:00Z' }, 'invalid_range'],
    ['summary', { from: '2026-03-02T00:00:00Z', to: '2026-03-02T00:00:00Z' }, 'invalid_range'],
    ['summary', { from: 'yesterday', to: 'today' }, 'invalid_range'],
    ['summary', { from: '2024-01-01', to: '2026-03-01' }, 'range_too_large'],
    ['summary', { from: '2024-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'range_too_large'],
    ['series', { from: '2026-01-01', to: '2026-02-15', granularity: 'hour' }, 'range_too_large'],
    ['series', { from: '2026-01-01', to: '2026-01-02', granularity: 'year' }, 'invalid_field'],
    ['summary', { from: '2026-01-01', to: '2026-01-02', format: 'xml' }, 'invalid_field'],
    ['summary', { from: '2026-01-01', to: '2026-01-02', site_id: 'abc' }, 'invalid_field'],
    ['summary', { from: '2026-01-01', to: '2026-01-02', site_id: '1,,2' }, 'invalid_field'],
    ['summary', { from: '2026-01-01', to: '2026-01-02', site_id: '-4' }, 'invalid_field'],
  ];
  for (const [name, query, code] of cases) {
    const r = await call(server, 'GET', `/v1/reports/${name}?${new URLSearchParams(query)}`, { token: A.admin });
    assert.equal(r.status, 400, `${JSON.stringify(query)}: ${r.text}`);
    assert.equal(r.json.error.code, code, `${JSON.stringify(query)}: ${r.text}`);
  }
  const missing = await call(server, 'GET', '/v1/reports/summary?from=2026-01-01&to=2026-01-02&site_id=987654', { token: A.admin });
  assert.equal(missing.status, 404);
  for (const bad of [0, 731, 'x', 1.5])
    assert.equal((await call(server, 'PATCH', `/v1/tenants/${A.tenant.id}/settings`, { token: A.admin, body: { returning_lookback_days: bad } })).status, 400);
  assert.deepEqual((await call(server, 'GET', `/v1/tenants/${A.tenant.id}/settings`, { token: A.admin })).json, settings);
  assert.equal(rollupState(), before);
});

// --- random data through the real ingestion endpoint ------------------------------------------

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function localDay(ms, zone) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

function localHour(ms, zone) {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(new Date(ms)));
}

const addDays = (day, n) => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);

/** The distinct-visitor figures of a local-date range by their definitions
 * (docs/REPORTS.md), straight from raw visits: unique per site set and per
 * bucket, returning = seen at any site in the look-back days before. */
function oracle(raw, sites, zoneOf, from, to, lookback) {
  const day = (v) => localDay(v.first, zoneOf[v.site]);
  const known = raw.filter((v) => v.customer !== '0');
  const inRange = known.filter((v) => sites.includes(v.site) && day(v) >= from && day(v) <= to);
  const back = new Set(known.filter((v) => day(v) >= addDays(from, -lookback) && day(v) < from).map((v) => v.customer));
  const unique = (vs) => new Set(vs.map((v) => v.customer));
  const returning = (vs) => [...unique(vs)].filter((c) => back.has(c)).length;
  const by = (label) => {
    const m = new Map();
    for (const v of inRange) m.set(label(v), [...(m.get(label(v)) || []), v]);
    return new Map([...m].map(([k, vs]) => [k, unique(vs).size]));
  };
  const week = (d) => addDays(d, -((new Date(`${d}T00:00:00Z`).getUTCDay() + 6) % 7));
  return {
    unique: unique(inRange).size, returning: returning(inRange),
    perSite: new Map(sites.map((s) => { const vs = inRange.filter((v) => v.site === s); return [s, [unique(vs).size, returning(vs)]]; })),
    day: by(day), week: by((v) => week(day(v))), month: by((v) => day(v).slice(0, 7)),
    hour: by((v) => `${day(v)}T${String(localHour(v.first, zoneOf[v.site])).padStart(2, '0')}:00`),
  };
}

/** Compares every report's distinct-visitor figures with the oracle for one
 * site selection (null: every site) and range. */
async function compareDistinct(raw, selection, from, to, lookback) {
  const zoneOf = Object.fromEntries(R.sites.map((s) => [s.id, s.timezone]));
  const sites = selection || R.sites.map((s) => s.id);
  const q = { from, to, ...(selection ? { site_id: selection.join(',') } : {}) };
  const want = oracle(raw, sites, zoneOf, from, to, lookback);
  const what = `${JSON.stringify(q)} look-back ${lookback}`;
  const s = await report(R.admin, 'summary', q);
  assert.deepEqual([s.unique_visitors, s.returning_visitors, s.new_visitors], [want.unique, want.returning, want.unique - want.returning], `summary ${what}`);
  const nr = await report(R.admin, 'new-returning', q);
  for (const row of nr.rows) {
    const [u, r] = row.site_id === null ? [want.unique, want.returning] : want.perSite.get(row.site_id);
    assert.deepEqual([row.unique_visitors, row.returning_visitors], [u, r], `new-returning ${row.site_id} ${what}`);
  }
  for (const g of ['day', 'week', 'month']) {
    const series = await report(R.admin, 'series', { ...q, granularity: g });
    for (const b of series.series)
      assert.equal(b.unique_visitors, want[g].get(b.period) || 0, `series ${g} ${b.period} ${what}`);
  }
  if (Date.parse(to) - Date.parse(from) < 31 * 86400000) {
    const hours = await report(R.admin, 'series', { ...q, granularity: 'hour' });
    for (const b of hours.series)
      assert.equal(b.unique_visitors, want.hour.get(b.period) || 0, `series hour ${b.period} ${what}`);
  }
  const cmp = await report(R.admin, 'sites', q);
  const before = oracle(raw, sites, zoneOf, addDays(from, -(Date.parse(to) - Date.parse(from)) / 86400000 - 1), addDays(from, -1), lookback);
  for (const row of cmp.sites)
    assert.deepEqual([row.unique_visitors, row.previous_unique_visitors], [want.perSite.get(row.site_id)[0], before.perSite.get(row.site_id)[0]], `sites ${row.site_id} ${what}`);
}

test('random visits ingested and corrected: rollups equal the raw aggregation', async () => {
  const rnd = mulberry32(20261206);
  const key = (await call(server, 'POST', '/v1/api-keys', { token: R.admin, body: { name: 'all sites' } })).json.secret;
  const cams = [];
  for (const site of R.sites)
    cams.push((await call(server, 'POST', '/v1/cameras', { token: R.admin, body: { site_id: site.id, name: 'Door', kind: 'rtsp', url: 'rtsp://10.0.0.1/s' } })).json.id);
  const people = Array.from({ length: 30 }, () => {
    const v = Array.from({ length: 128 }, () => rnd() * 2 - 1);
    const norm = Math.hypot(...v);
    return { v: v.map((x) => x / norm), gender: rnd() < 0.4 ? 'male' : rnd() < 0.8 ? 'female' : null, age: rnd() < 0.85 ? Math.floor(10 + rnd() * 70) : null };
  });
  const now = Date.now();
  const events = Array.from({ length: 240 }, () => {
    const p = people[Math.floor(rnd() * people.length)];
    return {
      id: randomUUID(), camera_id: cams[Math.floor(rnd() * cams.length)], captured_at: new Date(now - Math.floor(rnd() * 20 * 86400000)).toISOString(),
      descriptor: p.v.map((x) => x + (rnd() - 0.5) * 0.002), score: 0.9, quality: 0.2 + rnd() * 0.7, box: { x: 10, y: 10, width: 80, height: 90 },
      age: p.age, gender: p.gender, gender_probability: p.gender ? 0.8 : undefined, staff_id: null, crop_jpeg: crop,
    };
  });
  // Time-sorted batches extend visits; one batch out of order moves first sightings earlier.
  events.sort((a, b) => a.captured_at.localeCompare(b.captured_at));
  for (let i = 0; i < events.length; i += 60) {
    const batch = events.slice(i, i + 60);
    if (i === 60) batch.reverse();
    const r = await call(server, 'POST', '/v1/worker/events', { token: key, body: { events: batch.map((e) => JSON.parse(JSON.stringify(e))) } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.results.every((x) => x.outcome !== 'rejected'), r.text.slice(0, 300));
  }
  // A late event: a person seen two hours before their first visit, arriving
  // last, opens a visit before the ones already in their chain.
  const late = events[0]; // the earliest of all (events are sorted)
  const lateAt = new Date(Date.parse(late.captured_at) - 2 * 3600000).toISOString();
  const lr = await call(server, 'POST', '/v1/worker/events', { token: key, body: { events: [{ ...JSON.parse(JSON.stringify(late)), id: randomUUID(), captured_at: lateAt }] } });
  assert.equal(lr.status, 200, lr.text);
  assert.equal(lr.json.results[0].outcome, 'new_visit', lr.text);
  const chain = sqlRows(`SELECT id FROM visits WHERE customer_id = ${lr.json.results[0].customer_id} ORDER BY first_seen_at`);
  assert.ok(chain.length >= 2 && Number(chain[0][0]) === lr.json.results[0].visit_id, 'the late visit comes first in its chain');
  const visits = () => sqlRows(`SELECT id, customer_id FROM visits WHERE tenant_id = ${R.tenant.id} ORDER BY id`);
  let all = visits();
  assert.ok(all.length > 60, `visits: ${all.length}`);
  // Corrections through the API: delete, reassign, split, merge, erase.
  const customers = [...new Set(all.map((v) => v[1]))];
  assert.equal((await call(server, 'DELETE', `/v1/visits/${all[0][0]}`, { token: R.admin })).status, 204);
  assert.equal((await call(server, 'DELETE', `/v1/visits/${all[5][0]}`, { token: R.admin })).status, 204);
  // The visit moves into the chain of a customer seen again at least a day later.
  const movedAt = sqlRows(`SELECT first_seen_at FROM visits WHERE id = ${all[10][0]}`)[0][0];
  const other = sqlRows(`SELECT id, customer_id FROM visits WHERE tenant_id = ${R.tenant.id} AND customer_id <> ${all[10][1]} AND first_seen_at > ${Number(movedAt) + 86400000} ORDER BY id`)[0];
  assert.equal((await call(server, 'POST', `/v1/visits/${all[10][0]}/reassign`, { token: R.admin, body: { customer_id: Number(other[1]) } })).status, 200);
  all = visits();
  const multi = customers.find((c) => all.filter((v) => v[1] === c).length >= 2);
  const split = await call(server, 'POST', `/v1/customers/${multi}/split`, { token: R.admin, body: { visit_ids: [Number(all.find((v) => v[1] === multi)[0])] } });
  assert.equal(split.status, 201, split.text);
  const [t1, s1, s2, gone] = customers.filter((c) => c !== multi).slice(-4);
  const merged = await call(server, 'POST', '/v1/customers/merge', { token: R.admin, body: { target_id: Number(t1), source_ids: [Number(s1), Number(s2)] } });
  assert.equal(merged.status, 200, merged.text);
  assert.equal((await call(server, 'POST', `/v1/customers/${gone}/erase`, { token: R.admin })).status, 200);
  // Visits of one site and local day folded into one, across customers.
  const sameDay = sqlRows(`SELECT a.id, b.id FROM visits a JOIN visits b ON b.site_id = a.site_id AND b.local_day = a.local_day AND b.id > a.id ` +
    `WHERE a.tenant_id = ${R.tenant.id} AND a.customer_id <> b.customer_id ORDER BY a.id LIMIT 1`)[0];
  assert.ok(sameDay, 'two visits of one site and day');
  const folded = await call(server, 'POST', `/v1/visits/${sameDay[0]}/merge`, { token: R.admin, body: { visit_ids: [Number(sameDay[1])] } });
  assert.equal(folded.status, 200, folded.text);
  all = visits();

  const from = new Date(now - 25 * 86400000).toISOString(), to = new Date(now + 86400000).toISOString();
  const check = server.admin('rollups-check', '--tenant-id', String(R.tenant.id), '--from', from, '--to', to);
  assert.equal(check.sites, 3);
  assert.deepEqual([check.days_differing, check.hours_differing, check.visitors_differing], [0, 0, 0], JSON.stringify(check));

  // The reports against the raw rows, aggregated here.
  const raw = sqlRows(`SELECT site_id, first_seen_at, last_seen_at, COALESCE(customer_id, 0), COALESCE(gender, '') FROM visits WHERE tenant_id = ${R.tenant.id}`)
    .map(([site, first, last, customer, gender]) => ({ site: Number(site), first: Number(first), last: Number(last), customer, gender }));
  const s = await report(R.admin, 'summary', { from, to });
  assert.equal(s.visits, raw.length);
  assert.equal(s.unique_visitors, new Set(raw.filter((v) => v.customer !== '0').map((v) => v.customer)).size);
  assert.equal(s.anonymous_visits, raw.filter((v) => v.customer === '0').length);
  assert.ok(Math.abs(s.average_duration_s - raw.reduce((n, v) => n + v.last - v.first, 0) / raw.length / 1000) < 1e-6);
  // The median is taken over whole seconds.
  const durations = raw.map((v) => Math.floor((v.last - v.first) / 1000)).sort((a, b) => a - b), mid = durations.length >> 1;
  assert.equal(s.median_duration_s, durations.length % 2 ? durations[mid] : (durations[mid - 1] + durations[mid]) / 2);
  const d = await report(R.admin, 'demographics', { from, to });
  assert.deepEqual(d.gender, { male: raw.filter((v) => v.gender === 'male').length, female: raw.filter((v) => v.gender === 'female').length, unknown: raw.filter((v) => !v.gender).length });
  // Day series per site, each in its own zone, with local dates.
  for (const site of R.sites) {
    const first = localDay(now - 21 * 86400000, site.timezone), last = localDay(now, site.timezone);
    const series = await report(R.admin, 'series', { from: first, to: last, site_id: site.id });
    for (const b of series.series) {
      const here = raw.filter((v) => v.site === site.id && localDay(v.first, site.timezone) === b.period);
      assert.equal(b.visits, here.length, `${site.timezone} ${b.period}`);
      assert.equal(b.unique_visitors, new Set(here.filter((v) => v.customer !== '0').map((v) => v.customer)).size, `${site.timezone} ${b.period}`);
    }
    assert.equal(series.series.reduce((n, b) => n + b.visits, 0), raw.filter((v) => v.site === site.id).length);
  }
  // Unique, new and returning visitors by their definitions: every site, one
  // site, two of three; look-backs short and long; ranges of days and weeks.
  const ids = R.sites.map((x) => x.id);
  const ranges = [[localDay(now - 20 * 86400000, 'UTC'), localDay(now, 'UTC')], [localDay(now - 9 * 86400000, 'UTC'), localDay(now - 3 * 86400000, 'UTC')],
    [localDay(now - 5 * 86400000, 'UTC'), localDay(now - 5 * 86400000, 'UTC')]];
  for (const lookback of [2, 365]) {
    assert.equal((await call(server, 'PATCH', `/v1/tenants/${R.tenant.id}/settings`, { token: R.admin, body: { returning_lookback_days: lookback } })).status, 200);
    for (const [from, to] of ranges)
      for (const selection of [null, [ids[0]], [ids[1]], [ids[0], ids[1]]])
        await compareDistinct(raw, selection, from, to, lookback);
  }

  // A site's new time zone recomputes its rollups.
  const moved = await call(server, 'PATCH', `/v1/sites/${R.sites[1].id}`, { token: R.admin, body: { timezone: 'Europe/Berlin' } });
  assert.equal(moved.status, 200, moved.text);
  const after = server.admin('rollups-check', '--tenant-id', String(R.tenant.id), '--from', from, '--to', to);
  assert.equal(after.days_differing, 0, JSON.stringify(after));
  R.sites[1].timezone = 'Europe/Berlin';
  await compareDistinct(raw, null, ...ranges[0], 365);
  await compareDistinct(raw, [ids[1]], ...ranges[1], 365);
});

test('merging visits: one pass recorded as several becomes one visit; bad input and other tenants change nothing', async () => {
  const key = (await call(server, 'POST', '/v1/api-keys', { token: A.admin, body: { name: 'merge' } })).json.secret;
  const cam = (await call(server, 'POST', '/v1/cameras', { token: A.admin, body: { site_id: A.sites[BER].id, name: 'Merge door', kind: 'rtsp', url: 'rtsp://10.0.0.9/s' } })).json.id;
  const cam2 = (await call(server, 'POST', '/v1/cameras', { token: A.admin, body: { site_id: A.sites[HCM].id, name: 'Other door', kind: 'rtsp', url: 'rtsp://10.0.0.8/s' } })).json.id;
  const person = (seed) => { const v = Array.from({ length: 128 }, (_, i) => Math.sin(seed * 97 + i * 13.1)); const n = Math.hypot(...v); return v.map((x) => x / n); };
  // One Berlin local day three days ago: 07:00-12:00 UTC is on that date in Berlin all year.
  const day = new Date(Date.now() - 3 * 86400000).toISOString().slice(0, 10);
  const at = (h, m) => `${day}T${String(h - 3).padStart(2, '0')}:${String(m).padStart(2, '0')}:00Z`;
  const ev = (desc, camera, when, quality, gender, age) => ({ id: randomUUID(), camera_id: camera, captured_at: when, descriptor: desc, score: 0.9, quality,
    box: { x: 10, y: 10, width: 80, height: 90 }, age, gender, gender_probability: 0.9, staff_id: null, crop_jpeg: crop });
  const p1 = person(7001), p2 = person(7002);
  // p1 at 10:00, again at 13:00 (past the visit gap: two visits); p2 at 11:00
  // (another customer, the same person as far as the operator knows); p1 the next day.
  const r = await call(server, 'POST', '/v1/worker/events', { token: key, body: { events: [
    ev(p1, cam, at(10, 0), 0.5, 'female', 30), ev(p1, cam, at(10, 5), 0.55, 'female', 31), ev(p1, cam, at(13, 0), 0.9, 'male', 40),
    ev(p2, cam, at(11, 0), 0.6, 'female', 33), ev(p1, cam, `${addDays(day, 1)}T08:00:00Z`, 0.5, 'female', 30), ev(p1, cam2, at(12, 0), 0.5, 'female', 30)] } });
  assert.equal(r.status, 200, r.text);
  const [v1, , v2, v3, next, elsewhere] = r.json.results.map((x) => x.visit_id);
  const c1 = r.json.results[0].customer_id, c2 = r.json.results[3].customer_id;
  assert.ok(v1 !== v2 && v2 !== v3 && v1 !== next && c1 !== c2, r.text);
  const state = () => server.sql(`SELECT id, customer_id, first_seen_at, last_seen_at, detections, picture_key, is_new FROM visits WHERE tenant_id = ${A.tenant.id} ORDER BY id`) +
    server.sql(`SELECT visit_id, customer_id FROM face_events WHERE tenant_id = ${A.tenant.id} ORDER BY event_id`) + rollupState();
  const before = state();
  const picture = (v) => server.sql(`SELECT picture_key FROM visits WHERE id = ${v}`).trim();
  const pics = [picture(v1), picture(v2), picture(v3)];
  // Bad input: a clear 400 (404 for what the caller cannot see) and nothing changed.
  for (const [body, status, code] of [[{}, 400, 'missing_field'], [{ visit_ids: [] }, 400, 'invalid_field'], [{ visit_ids: [v1] }, 400, 'invalid_field'],
    [{ visit_ids: [v2, v2] }, 400, 'invalid_field'], [{ visit_ids: ['x'] }, 400, 'invalid_field'], [{ visit_ids: v2 }, 400, 'invalid_field'],
    [{ visit_ids: [v2], extra: 1 }, 400, 'unknown_field'], [{ visit_ids: [next] }, 400, 'invalid_field'], [{ visit_ids: [elsewhere] }, 400, 'invalid_field'],
    [{ visit_ids: [v2, 99999999] }, 404, 'not_found']]) {
    const bad = await call(server, 'POST', `/v1/visits/${v1}/merge`, { token: A.admin, body });
    assert.equal(bad.status, status, `${JSON.stringify(body)}: ${bad.text}`);
    assert.equal(bad.json.error.code, code, JSON.stringify(body));
  }
  // Another tenant's admin sees no such visit; a viewer may not change visits.
  assert.equal((await call(server, 'POST', `/v1/visits/${v1}/merge`, { token: B.admin, body: { visit_ids: [v2] } })).status, 404);
  assert.equal((await call(server, 'POST', `/v1/visits/${v1}/merge`, { token: A.siteViewer, body: { visit_ids: [v2] } })).status, 403);
  assert.equal(state(), before, 'nothing changed');

  const m = await call(server, 'POST', `/v1/visits/${v1}/merge`, { token: A.admin, body: { visit_ids: [v2, v3] } });
  assert.equal(m.status, 200, m.text);
  assert.equal(m.json.id, v1);
  assert.equal(m.json.first_seen_at_ms, Date.parse(at(10, 0)));
  assert.equal(m.json.last_seen_at_ms, Date.parse(at(13, 0)));
  assert.equal(m.json.detections, 4);
  assert.equal(m.json.customer_id, c1);
  assert.equal(m.json.gender, 'male', 'the best picture\'s estimates (quality 0.9)');
  assert.equal(picture(v1), pics[1], 'the best picture kept');
  assert.equal(server.sql(`SELECT COUNT(*) FROM visits WHERE id IN (${v2}, ${v3})`).trim(), '0');
  assert.equal(server.sql(`SELECT COUNT(*) FROM face_events WHERE visit_id = ${v1} AND customer_id = ${c1}`).trim(), '4', 'the face events moved with their customer');
  const stored = server.listPictures(`t/${A.tenant.id}/`);
  for (const gone of [pics[0], pics[2]]) assert.ok(!stored.includes(gone), `picture ${gone} deleted`);
  assert.ok(stored.includes(pics[1]), `picture ${pics[1]} kept: ${stored}`);
  // Customers recomputed: p2's customer has no visit left, p1 has the merged one, the next day's and the one elsewhere.
  const cust = async (id) => (await call(server, 'GET', `/v1/customers/${id}`, { token: A.admin })).json;
  assert.equal((await cust(c1)).visit_count, 3);
  assert.equal((await cust(c2)).visit_count, 0);
  assert.equal(server.sql(`SELECT is_new FROM visits WHERE id = ${v1}`).trim(), '1');
  // Reports: one visit that day at the site, rollups equal the raw rows, an audit entry.
  const s = await report(A.admin, 'summary', { from: day, to: day, site_id: A.sites[BER].id });
  assert.equal(s.visits, 1);
  assert.equal(s.unique_visitors, 1);
  const check = server.admin('rollups-check', '--tenant-id', String(A.tenant.id), '--from', `${addDays(day, -2)}T00:00:00Z`, '--to', `${addDays(day, 3)}T00:00:00Z`);
  assert.deepEqual([check.days_differing, check.hours_differing, check.visitors_differing], [0, 0, 0], JSON.stringify(check));
  const audit = (await call(server, 'GET', '/v1/audit', { token: A.admin })).json.items;
  assert.ok(audit.some((a) => a.action === 'visit.merge' && String(a.target_id) === String(v1) && /merged 2 visit/.test(a.summary)), JSON.stringify(audit));
});

test('a database from before the gap data (migration 0009) is rolled up again once at the next start', async () => {
  const range = { from: '2026-03-01', to: '2026-03-31' };
  const want = await report(A.admin, 'summary', range);
  const wantNr = await report(A.admin, 'new-returning', range);
  // What an upgraded database looks like: visits without hour keys, no gap data, the upgrade pending.
  server.sql("UPDATE visits SET hour_key = NULL; DELETE FROM report_day_gaps; DELETE FROM report_day_sets; UPDATE report_hours SET hour_firsts = 0, hour_site_firsts = 0; " +
    "INSERT INTO pending_upgrades (name) VALUES ('reports_backfill')");
  await server.stop();
  server.stderr = '';
  await server.start();
  assert.match(server.stderr, /event=reports.backfill\b/);
  assert.match(server.stderr, /event=reports.backfilled\b/);
  assert.equal(server.sql("SELECT COUNT(*) FROM pending_upgrades").trim(), '0');
  assert.equal(server.sql("SELECT COUNT(*) FROM visits WHERE hour_key IS NULL").trim(), '0');
  assert.deepEqual(await report(A.admin, 'summary', range), want);
  assert.deepEqual(await report(A.admin, 'new-returning', range), wantNr);
  const check = server.admin('rollups-check', '--from', '2024-01-01T00:00:00Z', '--to', '2027-06-01T00:00:00Z');
  assert.deepEqual([check.days_differing, check.hours_differing, check.visitors_differing, check.keys_differing], [0, 0, 0, 0], JSON.stringify(check));
  // Done once: the next start does nothing of the kind.
  await server.stop();
  server.stderr = '';
  await server.start();
  assert.doesNotMatch(server.stderr, /event=reports.backfill\b/);
});
