// The reports page in Chromium against the real server: visits sent through
// the worker protocol, then every figure on the page compared with what the
// reports API answers for the same range; the CSV download, the empty state,
// Vietnamese, and a site-bound viewer who sees only their site.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Server, checkPrerequisites, clearFailedShots, faceEvent, launchChromium, openPage, person, sendEvents, shot, signIn, stepper, testCrop, until, utcDate, watchErrors } from './lib.mjs';

const T = 15000;
const DAY = 86400000;
let srv, browser, ctx, page, errors, alice, vera;
const seed = {};
const step = stepper(test, () => page);

before(async () => {
  checkPrerequisites();
  clearFailedShots();
  srv = new Server();
  seed.acme = srv.admin('create-tenant', '--name', 'Acme Retail').tenant_id;
  seed.hanoi = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Hanoi Store', '--timezone', 'Asia/Ho_Chi_Minh').site_id;
  seed.paris = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Paris Shop', '--timezone', 'Europe/Paris').site_id;
  seed.empty = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Empty Corner', '--timezone', 'UTC').site_id;
  srv.admin('create-user', '--username', 'alice', '--password', 'alice-password-1', '--role', 'tenant_admin', '--tenant-id', String(seed.acme));
  srv.admin('create-user', '--username', 'vera', '--password', 'vera-password-1', '--role', 'viewer', '--tenant-id', String(seed.acme), '--site-id', String(seed.hanoi));
  await srv.start();
  alice = await srv.token('alice', 'alice-password-1');
  vera = await srv.token('vera', 'vera-password-1');
  const cam = async (site, name) => {
    const r = await srv.api('POST', '/v1/cameras', { token: alice, body: { site_id: site, name, kind: 'file', url: '/videos/door.mp4' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const hanoiCam = await cam(seed.hanoi, 'Hanoi door');
  const parisCam = await cam(seed.paris, 'Paris door');
  const key = srv.admin('create-api-key', '--tenant-id', String(seed.acme), '--name', 'seed worker').secret;
  // All inside the last 7 local days of every zone (2 to 4.5 days ago), one
  // visit in the period before (10 days ago) for the comparison.
  const now = Date.now();
  const crop = testCrop(srv.dir);
  await sendEvents(srv, key, [
    faceEvent({ camera: hanoiCam, descriptor: person(1), at: now - 4.5 * DAY, age: 27, gender: 'male', crop }),
    faceEvent({ camera: hanoiCam, descriptor: person(1), at: now - 2 * DAY, age: 27, gender: 'male', crop }),
    faceEvent({ camera: hanoiCam, descriptor: person(2), at: now - 3 * DAY, age: 41, gender: 'female', crop }),
    faceEvent({ camera: hanoiCam, descriptor: person(3), at: now - 2.2 * DAY, age: 70, gender: 'female', crop }),
    faceEvent({ camera: hanoiCam, descriptor: person(4), at: now - 4 * DAY, age: 15, gender: 'male', crop }),
    faceEvent({ camera: hanoiCam, descriptor: person(5), at: now - 10 * DAY, age: 33, gender: 'female', crop }),
    faceEvent({ camera: parisCam, descriptor: person(6), at: now - 2.5 * DAY, age: 30, gender: 'male', crop }),
    faceEvent({ camera: parisCam, descriptor: person(2), at: now - 3.5 * DAY, age: 41, gender: 'female', crop }),
  ]);
  browser = await launchChromium();
  ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC', locale: 'en-GB', acceptDownloads: true });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  errors = watchErrors(page);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

// The page's default range: the last 7 local days, today included.
const RANGE = () => `from=${utcDate(6)}&to=${utcDate(0)}`;
const report = async (name, token = alice, extra = '') => {
  const r = await srv.api('GET', `/v1/reports/${name}?${RANGE()}${extra}`, { token });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const stat = (p, id) => p.getByTestId(`report-${id}`).locator('.ant-statistic-content').innerText();
const fmt = (n) => new Intl.NumberFormat('en-GB').format(n);

async function expectSummary(p, s) {
  await until(async () => (await stat(p, 'visits').catch(() => '')) === fmt(s.visits), T, `visits ${s.visits} on the page`);
  assert.equal(await stat(p, 'unique'), fmt(s.unique_visitors));
  assert.equal(await stat(p, 'new'), fmt(s.new_visitors));
  assert.equal(await stat(p, 'returning'), fmt(s.returning_visitors));
  assert.equal(await stat(p, 'staff'), fmt(s.staff_passes));
}

step('a tenant admin sees the figures the reports API gives, in each site\'s zone', async () => {
  await signIn(page, srv.url, 'alice', 'alice-password-1');
  await openPage(page, 'Reports');
  const s = await report('summary');
  assert.equal(s.visits, 7, 'seven visits in the range (the eighth is in the previous period)');
  await expectSummary(page, s);
  const zones = await page.getByTestId('report-zones').innerText();
  for (const z of ['Hanoi Store (Asia/Ho_Chi_Minh)', 'Paris Shop (Europe/Paris)']) assert.ok(zones.includes(z), zones);

  const demo = await report('demographics');
  const gender = await page.getByTestId('report-gender').innerText();
  assert.match(gender, new RegExp(`Male: ${demo.gender.male}\\b`));
  assert.match(gender, new RegExp(`Female: ${demo.gender.female}\\b`));
  const ages = await page.getByTestId('report-ages').innerText();
  for (const b of demo.age_bands.filter((x) => x.visits > 0)) assert.ok(ages.includes(`${b.band}: ${b.visits}`), `${b.band} in ${ages}`);

  const nr = await report('new-returning');
  const nrText = await page.getByTestId('report-new-returning').locator('.ant-table-tbody').innerText();
  for (const r of nr.rows) {
    const label = r.site_id === null ? 'All sites' : r.site_name;
    assert.ok(nrText.split('\n').some((line) => line.startsWith(label) && line.includes(`${r.unique_visitors}\t${r.new_visitors}\t${r.returning_visitors}`)), `${label} in ${nrText}`);
  }

  const cmp = await report('sites');
  const hanoi = cmp.sites.find((x) => x.site_id === seed.hanoi);
  assert.equal(hanoi.previous_visits, 1);
  const hanoiRow = await page.locator('[data-testid="report-comparison"] .ant-table-row', { hasText: 'Hanoi Store' }).innerText();
  const cells = hanoiRow.split('\t').map((c) => c.trim());
  assert.equal(cells[1], String(hanoi.visits));
  assert.equal(cells[2], String(hanoi.previous_visits));
  assert.equal(cells[3], `+${Math.round(hanoi.visits_change * 1000) / 10} %`);
  assert.ok((await page.getByTestId('report-previous').innerText()).includes(`${cmp.previous_from} – ${cmp.previous_to}`));

  const series = await report('series', alice, '&granularity=day');
  const axis = await page.getByTestId('chart-series').innerText();
  for (const r of series.series.filter((x) => x.visits > 0)) assert.ok(axis.includes(r.period), `${r.period} on the time axis: ${axis}`);
  await page.getByTestId('chart-heatmap').locator('svg').waitFor();
  await shot(page, '20-reports');
});

step('the series groups by week when asked', async () => {
  await page.getByText('Week', { exact: true }).click();
  const weekly = await report('series', alice, '&granularity=week');
  await until(async () => {
    const axis = await page.getByTestId('chart-series').innerText();
    return weekly.series.every((r) => axis.includes(r.period));
  }, T, 'the weekly periods on the axis');
  await page.getByText('Day', { exact: true }).click();
});

step('CSV download: an authenticated fetch (no token in the URL) saving what the API streams', async () => {
  const seen = [];
  page.on('request', (r) => { if (r.url().includes('/v1/reports/')) seen.push({ url: r.url(), auth: r.headers().authorization ?? '' }); });
  await page.getByTestId('report-csv').click();
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: T }),
    page.locator('.ant-dropdown:visible').getByText('Time series', { exact: true }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8');
  const expected = await srv.api('GET', `/v1/reports/series?${RANGE()}&granularity=day&format=csv`, { token: alice });
  assert.equal(expected.status, 200);
  assert.equal(csv, expected.body);
  assert.match(csv.split('\r\n')[0], /period/);
  assert.ok(csv.split('\r\n').length > 2, 'rows in the CSV');
  assert.match(download.suggestedFilename(), /^footfall-series-\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv$/);
  const req = seen.find((x) => x.url.includes('format=csv'));
  assert.ok(req, 'the CSV was fetched');
  assert.match(req.auth, /^Bearer /);
  assert.doesNotMatch(req.url, /token|ticket|Bearer/i);
});

step('a site with no visits shows the empty state, not made-up numbers', async () => {
  const filter = page.getByTestId('report-sites-filter');
  await filter.click();
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'Empty Corner' }).click();
  await page.keyboard.press('Escape');
  await page.getByTestId('report-empty').waitFor({ timeout: T });
  assert.equal(await stat(page, 'visits'), '0');
  assert.equal(await page.getByTestId('chart-series').count(), 0);
  await shot(page, '21-reports-empty');
  await filter.locator('.ant-select-clear').click({ force: true });
  await until(async () => (await stat(page, 'visits')) === '7', T, 'all sites again');
});

step('Vietnamese: the page, its charts and its figures', async () => {
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('heading', { name: 'Báo cáo' }).waitFor({ timeout: T });
  assert.match(await page.getByTestId('report-visits').innerText(), /Lượt ghé thăm/);
  assert.match(await page.getByTestId('report-zones').innerText(), /giờ địa phương/);
  assert.match(await page.getByTestId('report-gender').innerText(), /Nam|Nữ/);
  assert.equal(await stat(page, 'visits'), '7');
  await shot(page, '22-reports-vi');
  await page.getByText('EN', { exact: true }).click();
  await page.getByRole('heading', { name: 'Reports' }).waitFor({ timeout: T });
  assert.deepEqual(errors, []);
});

step('a site-bound viewer sees only their site\'s figures and no site filter', async () => {
  const vctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC', locale: 'en-GB' });
  const p = await vctx.newPage();
  const verrs = watchErrors(p);
  await signIn(p, srv.url, 'vera', 'vera-password-1');
  await openPage(p, 'Reports');
  const s = await report('summary', vera);
  assert.deepEqual(s.sites.map((x) => x.id), [seed.hanoi]);
  assert.ok(s.visits < 7 && s.visits > 0);
  await expectSummary(p, s);
  assert.equal(await p.getByTestId('report-sites-filter').count(), 0);
  assert.doesNotMatch(await p.getByTestId('report-zones').innerText(), /Paris/);
  await shot(p, '23-reports-viewer');
  assert.deepEqual(verrs, []);
  await vctx.close();
});
