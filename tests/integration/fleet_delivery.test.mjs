// A command the server accepted reaches the worker, exactly once, however
// the worker goes away: stopped while the command waits for it, killed
// after acknowledging it, killed after it was pushed over a channel that
// nobody read any more. Real `footfall worker` processes; the server's ack
// timeout is a minute, so only the worker's return can deliver in time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, call, login, until } from './lib/server.mjs';
import { RealWorker } from './lib/worker.mjs';

const MODELS = process.env.FOOTFALL_MODELS_DIR;
let s, dir, token, key, camera, workerId;
const all = []; // every process started, killed at the end whatever happened

/** The worker of this file (one state folder); `channel` false: commands only in heartbeat answers. */
function worker(channel = true) {
  const w = new RealWorker(dir, 'w', s, key, ['--models-dir', MODELS, ...(channel ? [] : ['--channel', '0'])]);
  all.push(w);
  return w;
}

const get = async (id) => (await call(s, 'GET', `/v1/commands/${id}`, { token })).json;
async function send(type, params = {}) {
  const r = await call(s, 'POST', `/v1/workers/${workerId}/commands`, { token, body: { type, params } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}
/** Starts w and waits until it runs the camera (and its channel is up, when it has one). */
async function started(w, channel = true) {
  await w.start();
  workerId = (await until(async () => (await call(s, 'GET', '/v1/workers', { token })).json.items.find((x) => x.uuid === w.uuid), 10000, 'the worker row')).id;
  await until(async () => (await w.running()).includes(camera), 20000, 'the camera to run');
  if (channel) await until(async () => (await call(s, 'GET', `/v1/workers/${workerId}`, { token })).json.channel_connected, 10000, 'the channel');
  return w;
}
async function finished(id, w) {
  try {
    return await until(async () => { const c = await get(id); return ['completed', 'failed', 'expired'].includes(c.status) && c; }, 20000, `command ${id} to finish`);
  } catch (e) { throw new Error(`${e.message}: ${JSON.stringify(await get(id))}\n${w.log.slice(-3000)}`); }
}
/** Runs of a command in a worker's log: the line the executor writes when it finishes one. */
const runs = (log, id) => (log.match(new RegExp(`command ${id} \\(\\w+\\) (completed|failed)`, 'g')) || []).length;
const recorded = (w, id) => JSON.parse(readFileSync(join(w.state, 'commands.json'), 'utf8')).done.filter((d) => d.id === id).length;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-delivery-'));
  const video = join(dir, 'loop.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10',
    '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
  s = await new Server().start(['--fleet-sweep-ms', '200', '--fleet-ack-timeout-ms', '60000']);
  token = (await login(s, 'admin', s.adminPassword)).access_token;
  const t = (await call(s, 'POST', '/v1/tenants', { token, body: { name: 'Delivery' } })).json;
  const site = (await call(s, 'POST', '/v1/sites', { token, body: { name: 'Door', timezone: 'UTC', tenant_id: t.id } })).json;
  key = (await call(s, 'POST', '/v1/api-keys', { token, body: { name: 'till', site_id: site.id, tenant_id: t.id } })).json.secret;
  camera = (await call(s, 'POST', '/v1/cameras', { token, body: { site_id: site.id, name: 'door', kind: 'file', url: video } })).json.id;
});

after(async () => {
  for (const w of all) await w.kill();
  if (s) { await s.stop(); s.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a command queued while the worker is away is delivered when it comes back, and run once', async () => {
  const w = await started(worker());
  assert.equal((await w.stop()).code, 0, w.log.slice(-3000));
  const cmd = await send('status_report');
  await started(w);
  const done = await finished(cmd.id, w);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(runs(w.log, cmd.id), 1);
  assert.equal((await w.stop()).code, 0);
});

// A start_streaming on a worker without a channel waits (5 s) for one: the
// worker has acknowledged it and is still at it when it goes away.
for (const signal of ['SIGKILL', 'SIGTERM']) {
  test(`a command the worker acknowledged and had not finished (${signal}) is run by the worker when it comes back, once`, async () => {
    const first = await started(worker(false), false);
    const cmd = await send('start_streaming', { camera_id: camera, fps: 5 });
    await until(async () => (await get(cmd.id)).status === 'acknowledged', 4000, 'the acknowledgement');
    if (signal === 'SIGKILL') await first.kill('SIGKILL');
    else assert.equal((await first.stop()).code, 0, first.log.slice(-3000));
    assert.equal(runs(first.log, cmd.id), 0, `not finished before the ${signal}\n${first.log.slice(-3000)}`);
    if (signal === 'SIGTERM') assert.match(first.log, new RegExp(`command ${cmd.id} \\(start_streaming\\) interrupted by the stop`));
    assert.equal((await get(cmd.id)).status, 'acknowledged');

    const second = await started(worker(), false); // now with its channel: the stream can start
    const done = await finished(cmd.id, second);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.attempts, 2);
    assert.equal(runs(second.log, cmd.id), 1, 'run once');
    assert.equal(recorded(second, cmd.id), 1);
    assert.equal((await second.stop()).code, 0);
  });
}

test('a command pushed over the channel of a worker that froze and then died reaches the next process at once', async () => {
  const first = await started(worker());
  first.proc.kill('SIGSTOP'); // the channel stays open, nobody reads it
  let cmd;
  try {
    cmd = await send('status_report');
    assert.equal(cmd.status, 'sent', 'pushed over the channel before the answer');
  } finally {
    await first.kill('SIGKILL');
  }
  const second = await started(worker());
  const done = await finished(cmd.id, second);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.equal(done.attempts, 2);
  assert.equal(runs(first.log, cmd.id) + runs(second.log, cmd.id), 1, 'run once');
  assert.equal((await second.stop()).code, 0);
  assert.doesNotMatch(second.all || '', /ERROR: \w+Sanitizer|runtime error:/);
});
