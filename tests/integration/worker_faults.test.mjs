// Faults between the real worker and the real server, on a video made from
// face-api's sample photos (six people pass a door, on two cameras):
//  - the server is killed (SIGKILL) again and again while events upload and
//    comes back on the same port: every event the worker put in its outbox
//    arrives, and each is counted once (a visit's detections = the events
//    that made or extended it);
//  - the worker is killed with kill -9 and started again on the same state
//    folder: nothing it had queued is lost, and no visit is made twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Server, call, login, until } from './lib/server.mjs';

const SOURCE = process.env.FOOTFALL_SOURCE_DIR;
const MODELS = process.env.FOOTFALL_MODELS_DIR;
const PASSES = 6, PASS_S = 3, GAP_S = 3.4, CAMERAS = 2;
let server, port, dir, video, videoMs, key, cameras = [];
const workers = [];

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startWorker(state) {
  const w = { started: Date.now(), out: '', ids: () => [...w.out.matchAll(/event=pipeline\.event .*? event=([0-9a-f-]{36})/g)].map((m) => m[1]) };
  w.proc = spawn(BIN, ['worker', '--server-url', `http://127.0.0.1:${port}`, '--worker-api-key', key,
    '--state-dir', join(dir, state), '--device-lock-dir', join(dir, `${state}-locks`), '--endpoint-port', String(await freePort()),
    '--track-miss-ms', '800', '--upload-retry-base-ms', '100', '--upload-retry-cap-ms', '500',
    ...cameras.flatMap((c) => ['--camera', `id=${c.id},kind=file,url=${video}`])],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  w.proc.stdout.on('data', (d) => { w.out += d; });
  w.proc.stderr.on('data', (d) => { w.out += d; });
  w.exited = new Promise((resolve) => w.proc.on('exit', (code, signal) => resolve(code ?? signal)));
  workers.push(w);
  return w;
}

const ledger = () => new Set(server.sql('SELECT event_id FROM face_events').split('\n').map((l) => l.trim()).filter(Boolean));
const countedOnce = () => {
  const detections = Number(server.sql('SELECT COALESCE(SUM(detections), 0) FROM visits').trim());
  const made = Number(server.sql("SELECT COUNT(*) FROM face_events WHERE outcome IN ('new_visit', 'visit_extended')").trim());
  return { detections, made };
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-faults-'));
  const cast = join(dir, 'cast');
  execFileSync('node', [join(SOURCE, 'tools', 'demo-video.mjs'), '--footfall', BIN, '--samples', join(MODELS, '..', 'samples'),
    '--models', MODELS, '--out', cast, '--people-only', 'yes'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const people = JSON.parse(readFileSync(join(cast, 'demo.json'), 'utf8')).people.filter((p) => !p.staff).slice(0, PASSES);
  // One person after another crosses a 640x360 frame; nobody comes back.
  video = join(dir, 'door.mp4');
  const length = PASSES * GAP_S + 1.5;
  let graph = '', prev = '0';
  people.forEach((p, k) => {
    const at = 0.5 + k * GAP_S;
    graph += `[${k + 1}]scale=180:180[p${k}];[${prev}][p${k}]overlay=x='40+130*(t-${at})':y=80:` +
      `enable='between(t,${at},${at + PASS_S})'[v${k}];`;
    prev = `v${k}`;
  });
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=0x9aa4ae:s=640x360:r=25:d=${length}`,
    ...people.flatMap((p) => ['-loop', '1', '-framerate', '25', '-i', p.face]), '-filter_complex', graph.slice(0, -1),
    '-map', `[${prev}]`, '-t', String(length), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', video]);
  videoMs = length * 1000;

  port = await freePort();
  server = await new Server().start(['--port', String(port)]);
  const sys = (await login(server, 'admin', server.adminPassword)).access_token;
  const t = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name: 'Faults' } })).json;
  const site = (await call(server, 'POST', '/v1/sites', { token: sys, body: { name: 'Door', timezone: 'Europe/Berlin', tenant_id: t.id } })).json;
  for (let i = 0; i < CAMERAS; i++)
    cameras.push((await call(server, 'POST', '/v1/cameras', { token: sys, body: { site_id: site.id, name: `door ${i}`, kind: 'file', url: video } })).json);
  assert.ok(cameras.every((c) => c.id), JSON.stringify(cameras));
  key = (await call(server, 'POST', '/v1/api-keys', { token: sys, body: { name: 'pc', tenant_id: t.id, site_id: site.id } })).json.secret;
});

after(async () => {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  if (server) { await server.stop().catch(() => {}); server.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the server killed again and again during uploads: every queued event arrives, each counted once', async () => {
  const w = await startWorker('state-a');
  for (let i = 0; i < 5; i++) {
    await sleep(3000);
    await server.kill();
    await sleep(600);
    await server.start(['--port', String(port)]);
  }
  try {
    await until(() => {
      const ids = w.ids(), have = ledger();
      return Date.now() > w.started + videoMs + 3000 && ids.every((id) => have.has(id));
    }, 90000, 'every event the worker queued at the server');
    const ids = w.ids(), have = ledger();
    assert.deepEqual(ids.filter((id) => !have.has(id)), [], 'no event lost');
    assert.ok(ids.length >= PASSES / 2, `events to lose: ${ids.length}`);
  } catch (e) {
    throw new Error(`${e.message}\nworker:\n${w.out.slice(-3000)}\nserver:\n${server.stderr.slice(-2000)}`);
  }
  const { detections, made } = countedOnce();
  assert.equal(detections, made, 'each event adds one detection to one visit, never two');
  w.proc.kill('SIGTERM');
  assert.equal(await w.exited, 0, w.out.slice(-2000));
});

test('the worker killed with kill -9 and started again: nothing queued is lost, no visit is made twice', async () => {
  const before = ledger();
  const first = await startWorker('state-b');
  await until(() => first.ids().length >= 3, 60000, 'the first events');
  first.proc.kill('SIGKILL');
  await first.exited;
  const queued = first.ids();

  const second = await startWorker('state-b');
  try {
    await until(() => {
      const have = ledger();
      return Date.now() > second.started + videoMs + 3000 && queued.every((id) => have.has(id)) &&
        second.ids().every((id) => have.has(id));
    }, 90000, 'the queued events of the killed worker and the new ones');
  } catch (e) {
    throw new Error(`${e.message}\nfirst worker:\n${first.out.slice(-2000)}\nsecond worker:\n${second.out.slice(-2000)}`);
  }
  const fresh = [...ledger()].filter((id) => !before.has(id));
  assert.equal(fresh.length, new Set([...queued, ...second.ids()]).size, 'exactly the queued events, once each');
  // The same six people passed again within the visit gap: a person seen
  // before had the visit extended, never a second one made; each event
  // counted once.
  const again = server.sql('SELECT customer_id FROM visits GROUP BY customer_id HAVING COUNT(*) > 1').trim();
  assert.equal(again, '', 'no customer has two visits');
  const { detections, made } = countedOnce();
  assert.equal(detections, made);
  second.proc.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.out.slice(-2000));
});
