// The dashboard with real workers (`footfall worker`, face models loaded) on a
// generated video of one face: the visit the worker recognises appears in the
// live feed without a reload, and the live view shows both delivery paths —
// a worker whose local endpoint the server reaches (proxied MJPEG) and one
// whose reported endpoint leads nowhere, so its frames come over its channel
// and the server relays them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, MODELS_DIR, SHARED_DATA, Server, checkPrerequisites, clearFailedShots, launchChromium, openPage, shot, signIn, stepper, until, watchErrors } from './lib.mjs';

const FACE = join(SHARED_DATA, 'faces-bbt', 'penny', 'penny1.png');
const skip = !existsSync(join(MODELS_DIR, 'ssd_mobilenetv1_model-weights_manifest.json')) ? 'no face models (tools/bootstrap.sh models)'
  : !existsSync(FACE) ? `no ${FACE} (the shared test data is absent)` : false;
const T = 15000;
let srv, browser, page, errors, dir, video;
const seed = {};
const workers = [];
const step = stepper(test, () => page);

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** `footfall worker` with its own state folder and local endpoint. */
async function startWorker(name, key, extra = []) {
  const w = { name, log: '' };
  w.proc = spawn(BIN, ['worker', '--server-url', srv.url, '--worker-api-key', key, '--state-dir', join(dir, `state-${name}`),
    '--device-lock-dir', join(dir, 'locks'), '--endpoint-port', String(await freePort()), '--heartbeat-interval-ms', '500',
    '--inference-threads', '1', '--sample-fps', '2', '--worker-name', name, '--drain-ms', '500', '--models-dir', MODELS_DIR, ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  w.proc.stdout.on('data', (d) => { w.log += d; });
  w.proc.stderr.on('data', (d) => { w.log += d; });
  w.exited = new Promise((resolve) => w.proc.on('exit', resolve));
  workers.push(w);
  const m = await until(() => w.log.match(/worker_id=([0-9a-f-]{36})/) || (w.proc.exitCode !== null && 'exit'), 30000, `${name} to start`);
  if (m === 'exit') throw new Error(`${name} exited: ${w.log.slice(-2000)}`);
  return w;
}

const metric = async (name) => {
  const text = (await srv.api('GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
};

before(async () => {
  if (skip) return;
  checkPrerequisites();
  clearFailedShots();
  dir = mkdtempSync(join(tmpdir(), 'footfall-browser-worker-'));
  // One face in a 640x480 frame for 3 s, then 4 s of nobody (a visit is sent
  // when the face leaves); the file camera loops it.
  video = join(dir, 'door.mp4');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-loop', '1', '-t', '3', '-i', FACE, '-f', 'lavfi', '-i', 'color=c=gray:s=640x480:d=4:r=10',
    '-filter_complex', '[0]pad=300:225:75:37:color=gray,scale=640:480,fps=10,setsar=1[a];[1]setsar=1[b];[a][b]concat=n=2:v=1[v]', '-map', '[v]',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
  srv = new Server();
  seed.acme = srv.admin('create-tenant', '--name', 'Acme Retail').tenant_id;
  seed.store = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Main Store', '--timezone', 'UTC').site_id;
  seed.depot = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Depot', '--timezone', 'UTC').site_id;
  srv.admin('create-user', '--username', 'alice', '--password', 'alice-password-1', '--role', 'tenant_admin', '--tenant-id', String(seed.acme));
  seed.storeKey = srv.admin('create-api-key', '--tenant-id', String(seed.acme), '--site-id', String(seed.store), '--name', 'store worker').secret;
  seed.depotKey = srv.admin('create-api-key', '--tenant-id', String(seed.acme), '--site-id', String(seed.depot), '--name', 'depot worker').secret;
  await srv.start(['--fleet-sweep-ms', '200']);
  seed.alice = await srv.token('alice', 'alice-password-1');
  for (const [site, name] of [[seed.store, 'Front door'], [seed.depot, 'Loading bay']]) {
    const r = await srv.api('POST', '/v1/cameras', { token: seed.alice, body: { site_id: site, name, kind: 'file', url: video } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    seed[name] = r.body.id;
  }
  browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC', locale: 'en-GB' });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  errors = watchErrors(page);
});

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null) { w.proc.kill('SIGTERM'); await w.exited; }
  await browser?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

step('a worker on a video of one face: the visit appears in the live feed without a reload', async () => {
  await signIn(page, srv.url, 'alice', 'alice-password-1');
  await page.locator('[data-testid="feed-state"][data-state="open"]').waitFor({ timeout: T });
  assert.equal(await page.getByTestId('live-visit').count(), 0, 'no visit before the worker runs');
  const url = page.url();
  const w = await startWorker('store-pc', seed.storeKey);
  const item = page.getByTestId('live-visit').first();
  await item.waitFor({ timeout: 90000 }).catch(async (e) => {
    const cams = (await srv.api('GET', `/v1/workers`, { token: seed.alice })).body.items;
    console.log(`# worker log:\n${w.log.slice(-3000)}\n# workers: ${JSON.stringify(cams)}`);
    throw e;
  });
  const text = await item.innerText();
  assert.match(text, /Main Store/);
  assert.match(text, /Front door/);
  const visits = (await srv.api('GET', '/v1/visits', { token: seed.alice })).body.items;
  assert.ok(visits.length >= 1 && visits.every((v) => v.camera_id === seed['Front door']), JSON.stringify(visits));
  assert.equal(await item.getAttribute('data-visit-id'), String(visits.at(-1).id));
  assert.equal(page.url(), url, 'no navigation happened');
  // Today's figures follow without a reload.
  const stat = (id) => page.getByTestId(id).locator('.ant-statistic-content').innerText();
  await until(async () => (await stat('stat-today-visits')) === String(visits.length), T, "today's visits to count the worker's visit");
  await shot(page, '50-dashboard-worker-visit');
  assert.deepEqual(errors, []);
}, { skip });

step('live view: the proxied worker and the relayed one (endpoint unreachable, frames over its channel) both play', async () => {
  // Its endpoint runs, but the address it reports leads nowhere: the server relays.
  await startWorker('depot-pc', seed.depotKey, ['--endpoint-url', `http://127.0.0.1:${await freePort()}`]);
  const streaming = async (id) => (await srv.api('GET', `/v1/cameras/${id}`, { token: seed.alice })).body.status?.state === 'streaming';
  await until(async () => await streaming(seed['Front door']) && await streaming(seed['Loading bay']), 60000, 'both cameras streaming on their workers');
  // The cameras page shows each camera's reported state (from the camera list) and, on hover, when it was reported.
  await openPage(page, 'Cameras');
  const tag = page.locator('.ant-table-row', { hasText: 'Front door' }).locator('[data-state="streaming"]');
  await tag.waitFor({ timeout: 15000 });
  await tag.hover();
  await page.locator('.ant-tooltip:visible', { hasText: 'Reported by its worker' }).waitFor({ timeout: 15000 });
  await page.mouse.move(5, 5);
  await openPage(page, 'Live view');
  for (const name of ['Front door', 'Loading bay']) {
    const img = page.getByTestId('live-tile').filter({ hasText: name }).locator('img[data-playing="1"]');
    await img.waitFor({ timeout: 30000 });
    await until(() => img.evaluate((el) => el.complete && el.naturalWidth === 640), 30000, `frames of ${name}`);
  }
  await until(async () => (await metric('footfall_live_upstreams{mode="relay"}')) >= 1, T, 'a relayed upstream');
  assert.ok((await metric('footfall_live_upstreams{mode="proxy"}')) >= 1, 'a proxied upstream');
  // The relayed picture keeps changing: frames keep arriving over the channel.
  const frames = await metric('footfall_live_frames_total');
  await until(async () => (await metric('footfall_live_frames_total')) >= frames + 5, 30000, 'more frames');
  await shot(page, '51-live-view-proxied-and-relayed');
}, { skip });

step('search by photo: another picture of the person the worker saw finds that customer, whose gallery shows the face', async () => {
  const customers = (await srv.api('GET', '/v1/customers', { token: seed.alice })).body.items;
  assert.ok(customers.length >= 1);
  const photo = join(dir, 'penny2.jpg');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(SHARED_DATA, 'faces-bbt', 'penny', 'penny2.png'), '-vf', 'pad=450:450:150:150:color=gray', photo]);
  const expected = (await srv.api('POST', '/v1/customers/search', { token: seed.alice, body: { image: readFileSync(photo).toString('base64') } })).body;
  const best = expected.faces[0].matches.find((m) => m.match);
  assert.ok(best, `the API finds her: ${JSON.stringify(expected)}`);
  await openPage(page, 'Customers');
  await page.locator('input[type="file"]').setInputFiles(photo);
  const modal = page.getByRole('dialog').filter({ hasText: 'Has this person been here?' });
  const match = modal.getByTestId('search-match').filter({ hasText: 'Same person' }).first();
  await match.waitFor({ timeout: 60000 });
  assert.match(await match.innerText(), new RegExp(`Customer #${best.customer_id}\\b`));
  await shot(page, '52-customers-search-by-photo');
  await match.getByRole('button', { name: 'Details' }).click();
  await modal.waitFor({ state: 'hidden' });
  const drawer = page.getByTestId('customer-drawer');
  await drawer.getByTestId('customer-face').first().locator('img').waitFor({ timeout: T });
  await shot(page, '53-customer-gallery');
}, { skip });
