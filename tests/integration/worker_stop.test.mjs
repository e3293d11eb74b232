// Stopping a worker (SIGTERM) while it is busy with the server: a live
// stream that a command started at start-up, a stream in full flow, a
// server that stopped answering. Each time the worker must exit within a
// few seconds, cleanly (status 0), and every event it made must be at the
// server or still in its outbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, call, login, until } from './lib/server.mjs';
import { RealWorker } from './lib/worker.mjs';

const MODELS = process.env.FOOTFALL_MODELS_DIR;
const STOP_MS = 5000; // the longest a stop may take (the outbox drain is 500 ms here)
let s, dir, video, token, key, camera, workerId;

/** A worker on this test's server; its track of a face ends 0.8 s after the face is gone. */
const worker = () => new RealWorker(dir, 'w', s, key, ['--track-miss-ms', '800', '--models-dir', MODELS]);

const outbox = (w) => execFileSync('sqlite3', [join(w.state, 'outbox.db'), 'SELECT id FROM events'], { encoding: 'utf8' })
  .split('\n').map((l) => l.trim()).filter(Boolean);
const atServer = () => new Set(s.sql('SELECT event_id FROM face_events').split('\n').map((l) => l.trim()).filter(Boolean));

/** Nothing the worker made is lost: each event is at the server or in the outbox. */
function nothingLost(w) {
  const kept = new Set([...atServer(), ...outbox(w)]);
  const lost = w.events().filter((id) => !kept.has(id));
  assert.deepEqual(lost, [], `events lost\n${w.log.slice(-3000)}`);
  assert.equal(execFileSync('sqlite3', [join(w.state, 'outbox.db'), 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim(), 'ok');
}

async function command(type, params) {
  const r = await call(s, 'POST', `/v1/workers/${workerId}/commands`, { token, body: { type, params } });
  assert.equal(r.status, 202, r.text);
  return r.json.id;
}
/** Starts the worker and learns its id at the server. */
async function started(w) {
  await w.start();
  workerId = (await until(async () => (await call(s, 'GET', '/v1/workers', { token })).json.items.find((x) => x.uuid === w.uuid), 10000, 'the worker row')).id;
  return w;
}
const commandStatus = async (id) => (await call(s, 'GET', `/v1/commands/${id}`, { token })).json.status;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-stop-'));
  // A face that stays in view: its track is open whenever the worker stops,
  // so every stop turns it into an event the outbox must keep.
  video = join(dir, 'face.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-i', join(MODELS, '..', 'samples', 'sample1.jpg'),
    '-t', '60', '-r', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
  s = await new Server().start(['--fleet-sweep-ms', '200', '--fleet-ack-timeout-ms', '3000']);
  const sys = (await login(s, 'admin', s.adminPassword)).access_token;
  const t = (await call(s, 'POST', '/v1/tenants', { token: sys, body: { name: 'Stop' } })).json;
  const site = (await call(s, 'POST', '/v1/sites', { token: sys, body: { name: 'Door', timezone: 'UTC', tenant_id: t.id } })).json;
  token = sys;
  key = (await call(s, 'POST', '/v1/api-keys', { token, body: { name: 'till', site_id: site.id, tenant_id: t.id } })).json.secret;
  camera = (await call(s, 'POST', '/v1/cameras', { token, body: { site_id: site.id, name: 'door', kind: 'file', url: video } })).json.id;
});

after(async () => {
  if (s) { await s.stop(); s.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a start_streaming command waiting at start-up, then SIGTERM: the worker exits at once', async () => {
  const w = await started(worker());
  await until(async () => (await call(s, 'GET', `/v1/cameras/${camera}`, { token })).json.status?.state === 'streaming', 30000, 'the camera to run');
  let stopped = await w.stop();
  assert.equal(stopped.code, 0, w.log.slice(-3000));
  nothingLost(w);

  // The command may arrive before the camera runs or the channel is up: it
  // waits for both rather than failing. Every round stops a live stream.
  for (let round = 0; round < 3; round++) {
    // Queued while the worker is away: delivered when it comes back (fleet_delivery.test.mjs
    // has the ways a worker can go away with a command).
    const id = await command('start_streaming', { camera_id: camera, fps: 10 });
    await w.start();
    const final = await until(async () => { const st = await commandStatus(id); return ['completed', 'failed'].includes(st) && st; }, 20000, 'start_streaming to be run')
      .catch(async (e) => `${e.message}: ${JSON.stringify((await call(s, 'GET', `/v1/commands/${id}`, { token })).json)}`);
    assert.equal(final, 'completed', `round ${round}: start_streaming at start-up\n${w.log.slice(-3000)}`);
    stopped = await w.stop();
    assert.equal(stopped.code, 0, `exit status\n${w.log.slice(-3000)}`);
    assert.ok(stopped.ms < STOP_MS, `stopped in ${stopped.ms} ms (command ${final})\n${w.log.slice(-3000)}`);
    nothingLost(w);
    assert.doesNotMatch(w.all || '', /ERROR: \w+Sanitizer|runtime error:/);
  }
});

test('a stream in full flow, then SIGTERM: the worker exits at once', async () => {
  const w = await started(worker());
  await until(async () => (await call(s, 'GET', `/v1/cameras/${camera}`, { token })).json.status?.state === 'streaming', 30000, 'the camera to run');
  await until(async () => /channel.*connected/.test(w.log), 10000, 'the channel');
  const id = await command('start_streaming', { camera_id: camera, fps: 10 });
  await until(async () => (await commandStatus(id)) === 'completed', 20000, 'start_streaming to complete');
  await new Promise((r) => setTimeout(r, 2000));
  const stopped = await w.stop();
  assert.equal(stopped.code, 0, w.log.slice(-3000));
  assert.ok(stopped.ms < STOP_MS, `stopped in ${stopped.ms} ms\n${w.log.slice(-3000)}`);
  nothingLost(w);
});

test('a server that stopped answering (SIGSTOP), then SIGTERM: the worker exits within its timeouts', async () => {
  const w = await started(worker());
  await until(async () => /channel.*connected/.test(w.log), 10000, 'the channel');
  const id = await command('start_streaming', { camera_id: camera, fps: 10 });
  await until(async () => (await commandStatus(id)) === 'completed', 20000, 'start_streaming to complete');
  s.proc.kill('SIGSTOP'); // the socket stays open, nobody reads it: sends block once the buffers are full
  try {
    await new Promise((r) => setTimeout(r, 20000));
    const stopped = await w.stop();
    assert.equal(stopped.code, 0, w.log.slice(-3000));
    // The offline heartbeat and the drain each wait for the server at most
    // their timeouts (2 s and 0.5 s here).
    assert.ok(stopped.ms < STOP_MS + 2000, `stopped in ${stopped.ms} ms\n${w.log.slice(-3000)}`);
  } finally {
    s.proc.kill('SIGCONT');
  }
  nothingLost(w);
});
