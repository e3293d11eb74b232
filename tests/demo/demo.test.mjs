// `footfall demo` headless, as `make run` starts it: the demo camera made from
// face-api's sample photos, the server and a worker set up through the API.
// Within the bounded time the newcomer must see visits, a returning visitor
// and staff passes counted apart from customers; a second start on the same
// folder resumes without a new set-up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, call, login, until } from '../integration/lib/server.mjs';

const SOURCE = process.env.FOOTFALL_SOURCE_DIR;
const MODELS = process.env.FOOTFALL_MODELS_DIR;
const SAMPLES = join(MODELS, '..', 'samples');
let dir, camera, manifest, port, workerPort;
const running = [];

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
});

function startDemo() {
  const child = spawn(BIN, ['demo', '--data-dir', join(dir, 'data'), '--port', String(port),
    '--demo-worker-port', String(workerPort), '--demo-camera-dir', camera, '--models-dir', MODELS,
    '--demo-timezone', 'Asia/Ho_Chi_Minh'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const demo = { child, out: '' };
  child.stdout.on('data', (d) => { demo.out += d; });
  child.stderr.on('data', (d) => { demo.out += d; });
  demo.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  running.push(demo);
  return demo;
}

async function stopDemo(demo) {
  demo.child.kill('SIGTERM');
  const code = await Promise.race([demo.exited, new Promise((r) => setTimeout(() => r('timeout'), 60000))]);
  assert.equal(code, 0, `the demo stops cleanly on SIGTERM\n${demo.out.slice(-3000)}`);
}

/** The first bytes of a live MJPEG view: status, type, and whether whole JPEG frames came. */
function liveView(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let buf = Buffer.alloc(0);
      const done = () => { req.destroy(); resolve({ status: res.statusCode, type: res.headers['content-type'], buf }); };
      const timer = setTimeout(done, 15000);
      res.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const jpegs = buf.toString('latin1').split('\xff\xd8').length - 1;
        if (jpegs >= 3) { clearTimeout(timer); done(); }
      });
      res.on('end', () => { clearTimeout(timer); done(); });
    });
    req.on('error', reject);
  });
}

const metric = (text, name) => Number((text.match(new RegExp(`^${name} (\\S+)$`, 'm')) || [])[1] || 0);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-demo-'));
  camera = join(dir, 'camera');
  execFileSync('node', [join(SOURCE, 'tools', 'demo-video.mjs'), '--footfall', BIN, '--samples', SAMPLES,
    '--models', MODELS, '--out', camera], { stdio: ['ignore', 'ignore', 'inherit'] });
  manifest = JSON.parse(readFileSync(join(camera, 'demo.json'), 'utf8'));
});

after(async () => {
  for (const d of running) if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the demo camera: people who are surely different, two of them staff', () => {
  const staff = manifest.people.filter((p) => p.staff);
  assert.equal(staff.length, 2);
  for (const p of staff) assert.equal(p.enrol.length, 2, 'two pictures per staff member');
  const visitors = manifest.people.filter((p) => !p.staff).map((p) => p.name);
  const returning = visitors.filter((v) => manifest.schedule.filter((s) => s.name === v).length > 1);
  assert.ok(returning.length >= 1, 'someone comes back within the loop');
  assert.ok(statSync(manifest.video).size > 100000);
});

test('footfall demo: visits, a returning visitor, staff passes apart, within two minutes', async () => {
  port = await freePort();
  workerPort = await freePort();
  const demo = startDemo();
  const server = { url: `http://127.0.0.1:${port}` };
  const password = await until(() => (demo.out.match(/username: demo\s+password: (\S+)/) || [])[1], 120000,
    `the demo's set-up\n${demo.out.slice(-3000)}`);
  await until(() => /open http:\/\/127\.0\.0\.1:\d+ in a browser/.test(demo.out), 60000, 'the worker\'s start');
  const token = (await login(server, 'demo', password)).access_token;
  const visitors = manifest.people.filter((p) => !p.staff).length;

  const started = Date.now();
  let seen;
  try {
    seen = await until(async () => {
      const customers = (await call(server, 'GET', '/v1/customers?limit=100', { token })).json.items;
      const staffPasses = metric((await call(server, 'GET', '/metrics')).text, 'footfall_events_total\\{outcome="staff"\\}');
      const returning = customers.filter((c) => c.visit_count >= 2);
      return customers.length >= 4 && returning.length >= 1 && staffPasses >= 2 && { customers, staffPasses, returning };
    }, 150000, 'visits, a returning visitor and staff passes');
  } catch (e) {
    throw new Error(`${e.message}\n${demo.out.slice(-4000)}`);
  }
  const took = (Date.now() - started) / 1000;
  assert.ok(took < 150, `reached in ${took} s`);
  // Staff are not customers: never more customers than visitors in the video.
  assert.ok(seen.customers.length <= visitors, `${seen.customers.length} customers for ${visitors} visitors`);
  const visits = (await call(server, 'GET', '/v1/visits?limit=100', { token })).json.items;
  assert.ok(visits.length >= seen.customers.length + 1, 'a returning visitor has a second visit');
  const sites = (await call(server, 'GET', '/v1/sites', { token })).json.items;
  assert.equal(sites[0].timezone, 'Asia/Ho_Chi_Minh');
  // The reports fill in: yesterday and today in the store's zone hold every
  // visit so far, and the staff passes apart from them.
  const day = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Ho_Chi_Minh' }).format(new Date(ms));
  const summary = await call(server, 'GET', `/v1/reports/summary?from=${day(Date.now() - 86400000)}&to=${day(Date.now())}`, { token });
  assert.equal(summary.status, 200, summary.text);
  assert.ok(summary.json.visits >= visits.length && summary.json.visits > 0, summary.text);
  assert.ok(summary.json.staff_passes >= 2, summary.text);
  assert.ok(summary.json.unique_visitors >= 4 && summary.json.unique_visitors <= visitors, summary.text);
  // The live view with the overlay, through the server (proxied from the
  // worker's local endpoint), with a single-use stream ticket.
  const camera = (await call(server, 'GET', '/v1/cameras', { token })).json.items[0];
  const path = `/v1/cameras/${camera.id}/live.mjpeg`;
  const ticket = (await call(server, 'POST', '/v1/stream-tickets', { token, body: { path } })).json.ticket;
  const live = await liveView(`${server.url}${path}?ticket=${encodeURIComponent(ticket)}&overlay=1`);
  assert.equal(live.status, 200, live.buf.toString().slice(0, 300));
  assert.match(live.type, /^multipart\/x-mixed-replace/);
  assert.ok(live.buf.toString('latin1').split('\xff\xd8').length - 1 >= 3, 'JPEG frames arrive');
  const staff = (await call(server, 'GET', '/v1/staff', { token })).json.items;
  assert.deepEqual(staff.map((s) => s.name).sort(), manifest.people.filter((p) => p.staff).map((p) => p.name).sort());
  await stopDemo(demo);

  // A second start on the same folder: no new set-up, no password shown, the
  // worker carries on with the same camera.
  const again = startDemo();
  await until(() => /open http:\/\/127\.0\.0\.1:\d+ in a browser/.test(again.out), 60000, 'the second start');
  assert.doesNotMatch(again.out, /password: \S+\s+\(the store chain/);
  const token2 = (await login(server, 'demo', password)).access_token;
  const tenants = (await call(server, 'GET', '/v1/sites', { token: token2 })).json.items;
  assert.equal(tenants.length, 1, 'one store, not two');
  await stopDemo(again);
});
