// The worker and the server together, both real binaries: a generated video
// (faces from faces-bbt walking past a file camera) -> footfall worker ->
// POST /v1/worker/events -> customers, visits and staff passes. Amy passes
// twice (one visit, two detections), Raj - enrolled as staff on the server
// from two other pictures - passes once (a staff pass, no customer).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Server, call, login, until } from './lib/server.mjs';

const FACES = join(process.env.FOOTFALL_SHARED_DATA || '../shared/data', 'faces-bbt');
const skip = !existsSync(FACES) && `faces-bbt is not at ${FACES} (it comes with the developers' shared data)`;
let server, dir, worker, token, camera, key;

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'footfall-worker-'));
  const video = join(dir, 'walk.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=0x808080:s=640x360:r=25',
    '-i', join(FACES, 'amy', 'amy1.png'), '-i', join(FACES, 'raj', 'raj1.png'), '-filter_complex',
    "[1]scale=160:160[a];[2]scale=160:160[b];[0][a]overlay=x='if(lt(t,3),40+40*t,120)':y=100:" +
    "enable='between(t,0.3,2.0)+between(t,3.4,5.0)'[t];[t][b]overlay=x=420:y=90:enable='between(t,0.6,2.4)'",
    '-t', '6', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', video]);
  for (const k of [2, 4])
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(FACES, 'raj', `raj${k}.png`),
      '-vf', 'pad=300:300:75:75:color=0x808080', join(dir, `raj${k}.jpg`)]);

  server = await new Server().start();
  const sys = (await login(server, 'admin', server.adminPassword)).access_token;
  const t = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name: 'Shop' } })).json;
  const site = (await call(server, 'POST', '/v1/sites', { token: sys, body: { name: 'Main', timezone: 'Europe/Paris', tenant_id: t.id } })).json;
  await call(server, 'POST', '/v1/users', { token: sys, body: { username: 'owner', password: 'owner-password', role: 'tenant_admin', tenant_id: t.id } });
  token = (await login(server, 'owner', 'owner-password')).access_token;
  camera = (await call(server, 'POST', '/v1/cameras', { token, body: { site_id: site.id, name: 'door', kind: 'file', url: video } })).json;
  key = (await call(server, 'POST', '/v1/api-keys', { token, body: { name: 'store pc', site_id: site.id } })).json.secret;
  const raj = (await call(server, 'POST', '/v1/staff', { token, body: { name: 'Raj' } })).json;
  for (const k of [2, 4]) {
    const r = await call(server, 'POST', `/v1/staff/${raj.id}/faces`, { token, body: { image: readFileSync(join(dir, `raj${k}.jpg`)).toString('base64') } });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  if (worker && worker.exitCode === null) worker.kill('SIGKILL');
  if (server) { await server.stop(); server.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('worker -> server: one visit for two passes, a staff pass, no customer for staff', { skip }, async () => {
  let stderr = '';
  worker = spawn(BIN, ['worker', '--server-url', server.url, '--worker-api-key', key,
    '--state-dir', join(dir, 'state'), '--device-lock-dir', join(dir, 'locks'),
    '--endpoint-port', String(await freePort()), '--track-miss-ms', '800', '--camera', `id=${camera.id},kind=file,url=${camera.url}`],
  { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
  worker.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => worker.on('exit', (code) => resolve(code)));

  const staffPasses = () => Number(server.sql('SELECT COUNT(*) FROM staff_passes').trim());
  try {
    await until(async () => {
      const v = (await call(server, 'GET', '/v1/visits', { token })).json.items;
      return v.length === 1 && v[0].detections >= 2 && staffPasses() === 1;
    }, 150000, "the worker's events");
  } catch (e) {
    const ledger = server.sql('SELECT outcome, reason FROM face_events');
    throw new Error(`${e.message}\nledger: ${ledger}\nworker log:\n${stderr.slice(-3000)}`);
  }
  worker.kill('SIGTERM');
  assert.equal(await exited, 0, stderr.slice(-2000));

  const customers = (await call(server, 'GET', '/v1/customers', { token })).json.items;
  assert.equal(customers.length, 1, 'Amy only: the staff member is not a customer');
  assert.equal(customers[0].gender, 'female');
  const [visit] = (await call(server, 'GET', '/v1/visits', { token })).json.items;
  assert.equal(visit.detections, 2, 'two passes within the gap: one visit');
  assert.equal(visit.camera_id, camera.id);
  assert.equal(visit.has_picture, true);
  const outcomes = server.sql("SELECT outcome, COUNT(*) FROM face_events GROUP BY outcome ORDER BY outcome").trim();
  assert.match(outcomes, /new_visit\|1/);
  assert.match(outcomes, /staff\|1/);
  assert.match(outcomes, /visit_extended\|1/);
  assert.doesNotMatch(outcomes, /rejected/);
});
