// The production layout of docs/DEPLOY.md, on loopback: two `footfall server`
// instances on one PostgreSQL and one S3-compatible store (the CTest
// fixtures), behind nginx configured with deploy/nginx/ — the upstream block
// of footfall.conf and footfall-locations.conf unchanged; only ports, the
// certificate and temp paths differ. Checks: HTTPS through nginx reaches
// both servers; a token and a sealed camera password made by one server work
// on the other; Server-Sent Events and the worker's WebSocket pass through
// nginx; when one server stops, nginx sends everything to the other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Server, call, login, until } from '../integration/lib/server.mjs';
import { openEvents, faceEvent, ingest } from '../integration/lib/realtime.mjs';
import { WsClient } from '../integration/lib/ws.mjs';

const SOURCE = process.env.FOOTFALL_SOURCE_DIR;
const VAULT_KEY = randomBytes(32).toString('hex'); // the same on every instance, as DEPLOY.md says
let A, B, nginx, dir, tlsPort, plain, admin, tenant, site, camera, workerKey;

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** One HTTPS request through nginx (self-signed certificate made by the test). */
function https(method, path, { token, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port: tlsPort, method, path, ca: readFileSync(join(dir, 'cert.pem')),
      servername: 'localhost', headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(payload ? { 'Content-Type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const served = (server, path) => server.stderr.split('\n').filter((l) => l.includes('event=http.request') && l.includes(`path=${path}`)).length;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'footfall-deploy-'));
  const args = ['--vault-key', VAULT_KEY];
  A = await new Server({ generatedKeys: true, args }).start();
  B = await new Server({ databaseUrl: A.databaseUrl, bucket: A.bucket, generatedKeys: true, args }).start();

  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
  { stdio: 'ignore' });
  tlsPort = await freePort();
  const plainPort = await freePort();
  plain = { url: `http://127.0.0.1:${plainPort}`, dir };
  const upstream = readFileSync(join(SOURCE, 'deploy/nginx/footfall.conf'), 'utf8').match(/upstream footfall \{[\s\S]*?\n\}/)[0]
    .replace('127.0.0.1:8081', `127.0.0.1:${A.port}`).replace('127.0.0.1:8082', `127.0.0.1:${B.port}`);
  assert.match(upstream, new RegExp(`127\\.0\\.0\\.1:${B.port}`), 'the upstream block names both servers');
  const locations = join(SOURCE, 'deploy/nginx/footfall-locations.conf');
  for (const d of ['logs', 'tmp']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'nginx.conf'), `
${process.getuid() === 0 ? 'user root;' : ''}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy; fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;
  ${upstream}
  server {
    listen 127.0.0.1:${tlsPort} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    include ${locations};
  }
  # The same locations without TLS, for the tests' SSE and WebSocket clients.
  server {
    listen 127.0.0.1:${plainPort};
    include ${locations};
  }
}`);
  let log = '';
  nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stderr.on('data', (d) => { log += d; });
  await until(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${log}`);
    try { return (await call(plain, 'GET', '/healthz')).status === 200; } catch { return false; }
  }, 20000, 'nginx');

  admin = (await login(A, 'admin', A.adminPassword)).access_token;
  tenant = (await call(A, 'POST', '/v1/tenants', { token: admin, body: { name: 'Chain' } })).json;
  site = (await call(A, 'POST', '/v1/sites', { token: admin, body: { name: 'Store', timezone: 'Europe/Berlin', tenant_id: tenant.id } })).json;
  workerKey = (await call(A, 'POST', '/v1/api-keys', { token: admin, body: { name: 'store pc', tenant_id: tenant.id, site_id: site.id } })).json.secret;
});

after(async () => {
  if (nginx && nginx.exitCode === null) nginx.kill('SIGQUIT');
  for (const s of [A, B]) if (s) { await s.stop().catch(() => {}); s.cleanup(); }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('HTTPS through nginx reaches both servers; tokens and sealed camera passwords work on either', async () => {
  const r = await https('POST', '/v1/auth/login', { body: { username: 'admin', password: A.adminPassword } });
  assert.equal(r.status, 200, r.text);
  const token = r.json.access_token;
  const made = await https('POST', '/v1/cameras', { token, body: { site_id: site.id, name: 'door', kind: 'rtsp',
    url: 'rtsp://cam:s3cret@10.1.2.3:554/stream1' } });
  assert.equal(made.status, 201, made.text);
  camera = made.json;
  assert.doesNotMatch(camera.url ?? JSON.stringify(camera), /s3cret/, 'the password never comes back');
  for (let i = 0; i < 12; i++) {
    const g = await https('GET', `/v1/cameras/${camera.id}`, { token });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.headers['strict-transport-security'], undefined, 'HSTS is the TLS site\'s business, not the locations\'');
  }
  // Access-log lines are written in batches (up to 50 ms later).
  await until(() => served(A, `/v1/cameras/${camera.id}`) > 0 && served(B, `/v1/cameras/${camera.id}`) > 0,
    5000, 'nginx to spread requests over both servers (their access logs)');

  // A token signed by A is good on B (the key lives in the shared database).
  const onA = (await login(A, 'admin', A.adminPassword)).access_token;
  assert.equal((await call(B, 'GET', `/v1/cameras/${camera.id}`, { token: onA })).status, 200);
  // The camera password sealed by whichever server took the POST opens on
  // both: a worker registering with each gets the real URL in its lease.
  for (const s of [A, B]) {
    const reg = await call(s, 'POST', '/v1/worker/register', { token: workerKey,
      body: { worker_id: randomUUID(), heartbeat_interval_ms: 30000, capabilities: { max_cameras: 4 } } });
    assert.equal(reg.status, 200, reg.text);
    const urls = JSON.stringify(reg.json);
    if (urls.includes('rtsp://')) assert.match(urls, /rtsp:\/\/cam:s3cret@10\.1\.2\.3/);
  }
});

test('Server-Sent Events and the worker WebSocket pass through nginx, across the two servers', async () => {
  const viewer = (await login(plain, 'admin', A.adminPassword)).access_token;
  const switched = (await call(plain, 'POST', '/v1/auth/switch-tenant', { token: viewer, body: { tenant_id: tenant.id } })).json.access_token;
  const sse = await openEvents(plain, switched);
  assert.equal(sse.status, 200, sse.body);
  assert.equal(sse.headers['content-type'], 'text/event-stream; charset=utf-8');
  // Events go to each server in turn: some land on the server that is not
  // holding the stream, so it only sees them through the database's NOTIFY.
  const results = [];
  for (let i = 0; i < 4; i++) results.push(...await ingest(plain, workerKey, [faceEvent(plain, camera.id)]));
  for (const r of results) {
    assert.equal(r.outcome, 'new_visit', JSON.stringify(r));
    await sse.waitFor((m) => m.data.type === 'visit.new' && m.data.data.visit_id === r.visit_id, `visit ${r.visit_id} on the stream`, 15000);
  }
  sse.close();

  const uuid = randomUUID();
  assert.equal((await call(plain, 'POST', '/v1/worker/register', { token: workerKey,
    body: { worker_id: uuid, heartbeat_interval_ms: 30000, capabilities: { max_cameras: 4 } } })).status, 200);
  const ws = await WsClient.open(`${plain.url}/v1/worker/channel?worker_id=${uuid}`, { Authorization: `Bearer ${workerKey}` });
  const worker = (await call(plain, 'GET', '/v1/workers', { token: switched })).json.items.find((w) => w.uuid === uuid);
  assert.ok(worker, 'the worker is listed');
  const cmd = await call(plain, 'POST', `/v1/workers/${worker.id}/commands`, { token: switched, body: { type: 'status_report' } });
  assert.ok(cmd.status >= 200 && cmd.status < 300, cmd.text);
  const frame = await ws.next((m) => JSON.stringify(m).includes('status_report'), 15000);
  assert.ok(frame, 'the command arrives over the channel, through nginx');
  ws.close();
});

test('one server stops: nginx sends every request to the other', async () => {
  await A.stop();
  for (let i = 0; i < 8; i++) {
    const r = await https('GET', '/healthz');
    assert.equal(r.status, 200, r.text);
    // A POST nginx had already written to the stopped server's last
    // keep-alive connection is not repeated by nginx (it may have been
    // applied): the client retries, as workers do.
    let l = await https('POST', '/v1/auth/login', { body: { username: 'admin', password: A.adminPassword } });
    if (l.status === 502) l = await https('POST', '/v1/auth/login', { body: { username: 'admin', password: A.adminPassword } });
    assert.equal(l.status, 200, l.text);
  }
});
