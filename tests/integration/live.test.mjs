// Live camera views through the server, with real workers on a file camera:
// a worker whose local endpoint the server can reach is proxied; one whose
// endpoint is unreachable streams over its channel (start_streaming) and the
// server relays. Two viewers share one upstream, which stops when the last
// one leaves. Also the worker's log tail through the server, and who may
// watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, Server, call, login, until } from './lib/server.mjs';
import { metric, ticket } from './lib/realtime.mjs';

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

class Worker {
  constructor(dir, name, server, key, extra = []) { Object.assign(this, { dir, name, server, key, extra, log: '' }); }
  async start() {
    this.port = await freePort();
    this.proc = spawn(BIN, ['worker', '--server-url', this.server.url, '--worker-api-key', this.key,
      '--state-dir', join(this.dir, `state-${this.name}`), '--device-lock-dir', join(this.dir, 'locks'),
      '--endpoint-port', String(this.port), '--heartbeat-interval-ms', '500', '--inference-threads', '1',
      '--sample-fps', '1', '--worker-name', this.name, '--drain-ms', '500', ...this.extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve(code ?? signal)));
    const m = await until(() => this.log.match(/worker_id=([0-9a-f-]{36})/) || (this.proc.exitCode !== null && 'exit'), 30000, `${this.name} to start`);
    if (m === 'exit') throw new Error(`${this.name} exited: ${this.log}`);
    return this;
  }
  kill() { if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL'); return this.exited; }
}

/** Reads multipart/x-mixed-replace and counts the JPEG parts. */
class MjpegViewer {
  constructor(server, path) {
    this.parts = [];
    this.opened = new Promise((resolve, reject) => {
      this.req = http.get(server.url + path, (res) => {
        this.status = res.statusCode;
        this.type = res.headers['content-type'];
        let buf = Buffer.alloc(0);
        res.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          for (;;) {
            const head = buf.indexOf('\r\n\r\n');
            if (head < 0) break;
            const len = Number((buf.subarray(0, head).toString().match(/Content-Length: (\d+)/i) || [])[1]);
            if (!len) { this.body = (this.body || '') + buf.toString(); buf = Buffer.alloc(0); break; }
            if (buf.length < head + 4 + len) break;
            this.parts.push(buf.subarray(head + 4, head + 4 + len));
            buf = buf.subarray(head + 4 + len);
          }
        });
        res.on('end', () => { this.ended = true; });
        resolve(this);
      });
      this.req.on('error', reject);
    });
  }
  close() { this.req.destroy(); }
}

let dir, s, sys, T, siteP, siteR, camP, camR, wP, wR, keyP, keyR, otherAdmin, siteRViewer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-live-'));
  const video = join(dir, 'loop.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10',
    '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
  s = await new Server().start(['--fleet-sweep-ms', '200']);
  sys = (await login(s, 'admin', s.adminPassword)).access_token;
  T = (await call(s, 'POST', '/v1/tenants', { token: sys, body: { name: 'Live' } })).json;
  const site = async (name) => (await call(s, 'POST', '/v1/sites', { token: sys, body: { name, timezone: 'UTC', tenant_id: T.id } })).json;
  siteP = await site('Proxied'); siteR = await site('Relayed');
  const cam = async (st) => (await call(s, 'POST', '/v1/cameras', { token: sys, body: { site_id: st.id, name: 'door', kind: 'file', url: video } })).json.id;
  camP = await cam(siteP); camR = await cam(siteR);
  const key = async (st) => (await call(s, 'POST', '/v1/api-keys', { token: sys, body: { name: st.name, site_id: st.id, tenant_id: T.id } })).json.secret;
  keyP = await key(siteP); keyR = await key(siteR);
  const user = async (username, role, site_id, tenant_id = T.id) => {
    const r = await call(s, 'POST', '/v1/users', { token: sys, body: { username, password: 'live-password-1', role, tenant_id, site_id } });
    assert.equal(r.status, 201, r.text);
    return (await login(s, username, 'live-password-1')).access_token;
  };
  siteRViewer = await user('r-viewer', 'viewer', siteR.id);
  const other = (await call(s, 'POST', '/v1/tenants', { token: sys, body: { name: 'Other' } })).json;
  otherAdmin = await user('other-admin', 'tenant_admin', undefined, other.id);
  wP = await new Worker(dir, 'proxied', s, keyP).start();
  // Its endpoint runs, but the address it reports leads nowhere: relay.
  wR = await new Worker(dir, 'relayed', s, keyR, ['--endpoint-url', `http://127.0.0.1:${await freePort()}`]).start();
  const running = async (id) => (await call(s, 'GET', `/v1/cameras/${id}`, { token: sys })).json.status?.state === 'streaming';
  await until(async () => await running(camP) && await running(camR), 30000, 'both cameras streaming on their workers');
});

after(async () => {
  for (const w of [wP, wR]) if (w) await w.kill();
  if (s) { await s.stop(); s.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function view(token, camera, query = '') {
  const t = await ticket(s, token, `/v1/cameras/${camera}/live.mjpeg`);
  const v = new MjpegViewer(s, `/v1/cameras/${camera}/live.mjpeg?ticket=${encodeURIComponent(t)}${query}`);
  return v.opened;
}

const upstreams = async (mode) => metric(s, `footfall_live_upstreams{mode="${mode}"}`);
const isJpeg = (b) => b[0] === 0xff && b[1] === 0xd8 && b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9;

for (const [mode, cam] of [['proxy', () => camP], ['relay', () => camR]]) {
  test(`live view through the ${mode}: two viewers share one upstream, which stops after the last`, async () => {
    const a = await view(sys, cam(), '&overlay=1');
    const b = await view(sys, cam(), '&overlay=1');
    for (const v of [a, b]) {
      assert.equal(v.status, 200, v.body);
      assert.equal(v.type, 'multipart/x-mixed-replace; boundary=footfall');
    }
    await until(() => a.parts.length >= 3 && b.parts.length >= 3, 20000, `frames for both viewers (${a.parts.length}, ${b.parts.length})`);
    for (const p of [...a.parts, ...b.parts]) assert.ok(isJpeg(p), 'every part is a whole JPEG');
    assert.equal(await upstreams(mode), 1, 'one upstream for two viewers');
    assert.equal(await upstreams(mode === 'proxy' ? 'relay' : 'proxy'), 0);
    assert.equal(await metric(s, 'footfall_live_viewers'), 2);
    a.close();
    await new Promise((r) => setTimeout(r, 1000));
    const before = b.parts.length;
    await until(() => b.parts.length > before, 10000, 'the second viewer goes on');
    assert.equal(await upstreams(mode), 1);
    b.close();
    await until(async () => await upstreams(mode) === 0, 10000, 'the upstream to stop');
    if (mode === 'relay') {
      // The worker was told to start and then to stop streaming.
      const workers = (await call(s, 'GET', '/v1/workers', { token: sys })).json.items;
      const id = workers.find((w) => w.name === 'relayed').id;
      // The upstream leaves the registry (the gauge above) just before its
      // stop_streaming is queued.
      const types = async () => (await call(s, 'GET', `/v1/workers/${id}/commands`, { token: sys })).json.items.map((c) => c.type);
      await until(async () => { const t = await types(); return t.includes('start_streaming') && t.includes('stop_streaming'); },
        5000, 'start_streaming and stop_streaming to be queued');
      await until(async () => (await call(s, 'GET', `/v1/workers/${id}/commands`, { token: sys })).json.items
        .filter((c) => c.type.endsWith('_streaming')).every((c) => c.status === 'completed'), 10000, 'the commands to complete');
    }
  });
}

test('who may watch: tickets, other tenants, other sites, no worker', async () => {
  const none = new MjpegViewer(s, `/v1/cameras/${camP}/live.mjpeg`);
  await none.opened;
  assert.equal(none.status, 401);
  const other = await view(otherAdmin, camP);
  assert.equal(other.status, 404, 'another tenant');
  const site = await view(siteRViewer, camP);
  assert.equal(site.status, 404, 'another site');
  const own = await view(siteRViewer, camR);
  assert.equal(own.status, 200, 'a viewer of the camera\'s site');
  own.close();
  const bad = await view(sys, camP, '&overlay=yes');
  assert.equal(bad.status, 400);
  const idle = (await call(s, 'POST', '/v1/cameras', { token: sys, body: { site_id: siteP.id, name: 'spare', kind: 'rtsp', url: 'rtsp://10.0.0.9/s', enabled: false } }));
  assert.equal(idle.status, 201, idle.text);
  const v = await view(sys, idle.json.id);
  assert.equal(v.status, 503, 'no worker runs a disabled camera');
  await until(async () => await metric(s, 'footfall_live_viewers') === 0, 10000, 'no viewers left');
});

test('the worker\'s log tail through the server', async () => {
  const workers = (await call(s, 'GET', '/v1/workers', { token: sys })).json.items;
  const p = workers.find((w) => w.name === 'proxied'), r = workers.find((w) => w.name === 'relayed');
  const logs = await call(s, 'GET', `/v1/workers/${p.id}/logs`, { token: sys });
  assert.equal(logs.status, 200, logs.text);
  assert.match(logs.headers.get('content-type'), /^text\/plain/);
  assert.match(logs.text, /worker_id=/);
  const unreachable = await call(s, 'GET', `/v1/workers/${r.id}/logs`, { token: sys });
  assert.equal(unreachable.status, 502);
  assert.equal(unreachable.json.error.code, 'unavailable');
  assert.equal((await call(s, 'GET', `/v1/workers/${p.id}/logs`, { token: otherAdmin })).status, 404);
  assert.equal((await call(s, 'GET', `/v1/workers/${p.id}/logs`, { token: siteRViewer })).status, 403);
});
