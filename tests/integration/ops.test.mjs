// Operations: health, readiness, metrics, the dashboard files, headers,
// cross-origin rules, shutdown, restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, call, login, until } from './lib/server.mjs';

let server, web;
before(async () => {
  web = mkdtempSync(join(tmpdir(), 'footfall-web-'));
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>dash</title><div id=root></div>');
  writeFileSync(join(web, 'assets', 'app-1234.js'), 'console.log(1)');
  server = await new Server({ webDir: web, args: ['--cors-origins', 'https://ops.example.com'] }).start();
});
after(async () => { await server.stop(); server.cleanup(); rmSync(web, { recursive: true, force: true }); });

test('healthz and readyz', async () => {
  const h = await call(server, 'GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
  const r = await call(server, 'GET', '/readyz');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ready');
  assert.equal(r.json.schema_version, r.json.schema_latest);
});

test('metrics count requests by route and status and time the database', async () => {
  await call(server, 'GET', '/v1/sites');
  await call(server, 'GET', '/v1/sites/12');
  const m = await call(server, 'GET', '/metrics');
  assert.match(m.headers.get('content-type'), /^text\/plain; version=0.0.4/);
  assert.match(m.text, /footfall_http_requests_total\{method="GET",route="\/v1\/sites",status="401"\} [1-9]/);
  assert.match(m.text, /footfall_http_requests_total\{method="GET",route="\/v1\/sites\/\{id\}",status="401"\} [1-9]/);
  assert.match(m.text, /footfall_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\} [1-9]/);
  assert.match(m.text, /footfall_db_statement_duration_seconds_count [1-9]/);
  assert.match(m.text, /footfall_db_pool_connections\{state="total"\} [1-9]/);
});

test('the dashboard is served with SPA fallback; API paths are not', async () => {
  const root = await fetch(server.url + '/');
  assert.equal(root.status, 200);
  assert.match(await root.text(), /<title>dash<\/title>/);
  assert.match(root.headers.get('content-security-policy'), /default-src 'self'/);
  const deep = await fetch(server.url + '/customers/42/visits');
  assert.equal(deep.status, 200, 'client-side routes get index.html');
  assert.match(await deep.text(), /<title>dash<\/title>/);
  const asset = await fetch(server.url + '/assets/app-1234.js');
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get('content-type'), /javascript/);
  assert.match(asset.headers.get('cache-control'), /immutable/);
  assert.equal((await fetch(server.url + '/assets/missing.js')).status, 404, 'a missing asset is not the SPA page');
  for (const p of ['/../../etc/passwd', '/assets/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await fetch(server.url + p);
    const text = await r.text();
    assert.ok(!text.includes('root:x:0'), `${p} must not escape the web folder`);
  }
  const api = await call(server, 'GET', '/v1/no-such-route');
  assert.equal(api.status, 404);
  assert.equal(api.json.error.code, 'not_found');
});

test('a placeholder page when the dashboard is not built', async () => {
  const s2 = await new Server().start();
  try {
    const r = await fetch(s2.url + '/anything');
    assert.equal(r.status, 200);
    assert.match(await r.text(), /Footfall server is running/);
  } finally { await s2.stop(); s2.cleanup(); }
});

test('security headers and request ids', async () => {
  const r = await fetch(server.url + '/healthz', { headers: { 'X-Request-Id': 'trace-abc.1' } });
  assert.equal(r.headers.get('x-request-id'), 'trace-abc.1');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const bad = await fetch(server.url + '/healthz', { headers: { 'X-Request-Id': 'evil\u00ff"value' } });
  assert.match(bad.headers.get('x-request-id'), /^[0-9a-f]{16}$/, 'an unsafe id is replaced');
});

test('request headers up to 12 KB are read; larger ones get 431 and the server goes on', async () => {
  const ok = await fetch(server.url + '/healthz', { headers: { 'X-Padding': 'a'.repeat(12000) } });
  assert.equal(ok.status, 200);
  const big = await fetch(server.url + '/healthz', { headers: { 'X-Padding': 'a'.repeat(20000) } });
  assert.equal(big.status, 431);
  assert.equal((await fetch(server.url + '/healthz')).status, 200);
});

test('same origin by default; configured origins only', async () => {
  const foreign = await fetch(server.url + '/healthz', { headers: { Origin: 'https://evil.example' } });
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  const allowed = await fetch(server.url + '/healthz', { headers: { Origin: 'https://ops.example.com' } });
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://ops.example.com');
  const pre = await fetch(server.url + '/v1/sites', { method: 'OPTIONS', headers: { Origin: 'https://ops.example.com', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  const preBad = await fetch(server.url + '/v1/sites', { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
  assert.equal(preBad.status, 405);
});

test('SIGTERM lets in-flight requests finish, then exits 0', async () => {
  const s2 = await new Server().start();
  // Logins spend tens of milliseconds in argon2id. Wait (on the server's own
  // in-flight gauge, which counts the /metrics request itself) until one is
  // being handled, then send SIGTERM.
  const logins = [1, 2, 3].map(() => call(s2, 'POST', '/v1/auth/login', { body: { username: 'admin', password: s2.adminPassword } })
    .then((r) => r.status, (e) => `dropped: ${e.cause?.code || e.message}`));
  await until(async () => {
    const m = await call(s2, 'GET', '/metrics');
    return Number((m.text.match(/^footfall_http_in_flight (\d+)$/m) || [0, 0])[1]) >= 2;
  }, 10000, 'a login in flight');
  const exited = s2.stop();
  const statuses = await Promise.all(logins);
  assert.ok(statuses.includes(200), `the login in flight completed: ${statuses}`);
  for (const st of statuses) assert.ok(st === 200 || st === 503, `answered, never dropped: ${statuses}`);
  const { code, signal } = await exited;
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.match(s2.stderr, /event=server.stopping/);
  assert.match(s2.stderr, /event=server.stopped/);
  s2.cleanup();
});

test('a restart keeps the generated keys: sessions survive, no new admin', async () => {
  const s2 = new Server({ generatedKeys: true });
  await s2.start();
  const session = await login(s2, 'admin', s2.adminPassword);
  await s2.stop();
  s2.stdout = '';
  await s2.start();
  assert.doesNotMatch(s2.stdout, /First start/);
  assert.equal((await call(s2, 'GET', '/v1/me', { token: session.access_token })).status, 200);
  const r = await call(s2, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
  assert.equal(r.status, 200);
  await s2.stop();
  s2.cleanup();
});

test('logs are one logfmt line per event', async () => {
  // Access-log lines are written in batches, up to 50 ms after the request.
  await until(() => /event=http.request .*route=\/healthz status=200/.test(server.stderr), 5000, 'the access log');
  const lines = server.stderr.trim().split('\n');
  assert.ok(lines.length > 5);
  for (const line of lines) assert.match(line, /^ts=\S+ level=(debug|info|warn|error) event=[a-z_.]+( |$)/, line);
  assert.ok(lines.some((l) => /event=http.request .*route=\/healthz status=200/.test(l)));
});
