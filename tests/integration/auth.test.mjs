// Sign-in, sessions and credentials through the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, call, login, seedWorld } from './lib/server.mjs';

let server, world;
before(async () => {
  server = await new Server().start();
  world = await seedWorld(server);
});
after(async () => {
  const { code } = await server.stop();
  assert.equal(code, 0, 'clean exit on SIGTERM');
  server.cleanup();
});

test('a configured admin password is never printed; the creation is logged', () => {
  assert.doesNotMatch(server.stdout, /First start/);
  assert.ok(!server.stdout.includes(server.adminPassword));
  assert.match(server.stderr, /event=server.admin_created/);
});

test('first start without a configured password prints a generated one once, and it signs in', async () => {
  const s2 = new Server({ generatedAdmin: true });
  const configured = s2.adminPassword;
  await s2.start();
  try {
    assert.match(s2.stdout, /First start: a system admin was created/);
    assert.match(s2.stdout, /username: admin/);
    assert.notEqual(s2.adminPassword, configured, 'the password came from the server');
    assert.match(s2.adminPassword, /^[A-Za-z0-9_-]{20}$/);
    assert.equal((await call(s2, 'POST', '/v1/auth/login', { body: { username: 'admin', password: s2.adminPassword } })).status, 200);
    await s2.stop();
    s2.stdout = '';
    await s2.start();
    assert.doesNotMatch(s2.stdout, /First start/, 'shown only once');
  } finally {
    await s2.stop();
    s2.cleanup();
  }
});

test('login returns an access token, a refresh token and the user', async () => {
  const s = await login(server, 'admin', server.adminPassword);
  assert.equal(s.token_type, 'Bearer');
  assert.equal(s.expires_in, 900);
  assert.match(s.refresh_token, /^ffr_/);
  assert.equal(s.user.role, 'system_admin');
  const me = await call(server, 'GET', '/v1/me', { token: s.access_token });
  assert.equal(me.status, 200);
  assert.equal(me.json.username, 'admin');
});

test('wrong password and unknown user answer the same 401', async () => {
  const a = await call(server, 'POST', '/v1/auth/login', { body: { username: 'admin', password: 'nope-nope-nope' } });
  const b = await call(server, 'POST', '/v1/auth/login', { body: { username: 'ghost', password: 'nope-nope-nope' } });
  assert.equal(a.status, 401);
  assert.equal(b.status, 401);
  assert.equal(a.json.error.code, 'unauthorized');
  assert.equal(a.json.error.message, b.json.error.message);
});

test('refresh rotates; a spent refresh token revokes its whole family', async () => {
  const t = world.tenants[0];
  const first = await login(server, t.viewer.username, t.viewer.password);
  const second = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
  assert.equal(second.status, 200);
  assert.notEqual(second.json.refresh_token, first.refresh_token);
  assert.equal((await call(server, 'GET', '/v1/me', { token: second.json.access_token })).status, 200);

  const reuse = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: first.refresh_token } });
  assert.equal(reuse.status, 401);
  assert.match(reuse.json.error.message, /used already/);
  const afterReuse = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: second.json.refresh_token } });
  assert.equal(afterReuse.status, 401, 'the newest token of the family is revoked too');

  const audit = await call(server, 'GET', '/v1/audit', { token: world.sys });
  assert.ok(audit.json.items.some((e) => e.action === 'auth.refresh_reuse'));
});

test('refresh works from the HttpOnly cookie, and logout ends the session', async () => {
  const res = await fetch(server.url + '/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: server.adminPassword }),
  });
  const cookie = res.headers.get('set-cookie');
  assert.match(cookie, /^ff_refresh=ffr_[^;]+; Path=\/v1\/auth; HttpOnly; SameSite=Strict/);
  const value = cookie.split(';')[0];
  const r = await call(server, 'POST', '/v1/auth/refresh', { headers: { Cookie: value }, body: {} });
  assert.equal(r.status, 200);
  const out = await call(server, 'POST', '/v1/auth/logout', { body: { refresh_token: r.json.refresh_token } });
  assert.equal(out.status, 204);
  const again = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: r.json.refresh_token } });
  assert.equal(again.status, 401);
});

test('expired, tampered and foreign-key tokens are refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const expired = server.forgeToken({ sub: '1', exp: now - 5 });
  assert.equal((await call(server, 'GET', '/v1/me', { token: expired })).status, 401);
  const valid = server.forgeToken({ sub: '1', exp: now + 60 });
  assert.equal((await call(server, 'GET', '/v1/me', { token: valid })).status, 200, 'the forge helper signs like the server');
  const tampered = valid.slice(0, -3) + (valid.endsWith('AAA') ? 'BBB' : 'AAA');
  assert.equal((await call(server, 'GET', '/v1/me', { token: tampered })).status, 401);
  const foreign = server.forgeToken({ sub: '1', exp: now + 60 }, 'some-other-secret-of-enough-length!!');
  assert.equal((await call(server, 'GET', '/v1/me', { token: foreign })).status, 401);
  const wrongAud = server.forgeToken({ sub: '1', exp: now + 60, aud: 'elsewhere' });
  assert.equal((await call(server, 'GET', '/v1/me', { token: wrongAud })).status, 401);
  const none = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url') + '.' +
    Buffer.from(JSON.stringify({ iss: 'footfall', aud: 'footfall-api', sub: '1', exp: now + 60 })).toString('base64url') + '.';
  assert.equal((await call(server, 'GET', '/v1/me', { token: none })).status, 401);
  const r = await call(server, 'GET', '/v1/me', { headers: { Authorization: 'Basic YTpi' } });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
});

test('failed logins are rate limited per username with Retry-After', async () => {
  const t = world.tenants[1];
  for (let i = 0; i < 5; i++) {
    const r = await call(server, 'POST', '/v1/auth/login', { body: { username: t.siteViewer.username, password: 'wrong-password!' } });
    assert.equal(r.status, 401);
  }
  const blocked = await call(server, 'POST', '/v1/auth/login', { body: { username: t.siteViewer.username, password: t.siteViewer.password } });
  assert.equal(blocked.status, 429, 'even the right password waits');
  assert.equal(blocked.json.error.code, 'rate_limited');
  const retry = Number(blocked.headers.get('retry-after'));
  assert.ok(retry > 0 && retry <= 300, `Retry-After ${retry}`);
});

test('a deactivated tenant stops its users and keys at once', async () => {
  const t = world.tenants[1];
  const key = t.key.secret;
  assert.equal((await call(server, 'GET', '/v1/sites', { token: t.admin.token })).status, 200);
  const off = await call(server, 'PATCH', `/v1/tenants/${t.tenant.id}`, { token: world.sys, body: { active: false } });
  assert.equal(off.status, 200);
  assert.equal(off.json.active, false);
  assert.equal((await call(server, 'GET', '/v1/sites', { token: t.admin.token })).status, 401);
  assert.equal((await call(server, 'GET', '/v1/me', { token: t.viewer.token })).status, 401);
  const keyed = await call(server, 'GET', '/v1/me', { token: key });
  assert.equal(keyed.status, 401);
  const relogin = await call(server, 'POST', '/v1/auth/login', { body: { username: t.viewer.username, password: t.viewer.password } });
  assert.equal(relogin.status, 401);
  assert.equal((await call(server, 'PATCH', `/v1/tenants/${t.tenant.id}`, { token: world.sys, body: { active: true } })).status, 200);
  assert.equal((await call(server, 'GET', '/v1/sites', { token: t.admin.token })).status, 200);
});

test('changing the password needs the current one and ends other sessions', async () => {
  const t = world.tenants[0];
  const other = await login(server, t.manager.username, t.manager.password);
  const wrong = await call(server, 'POST', '/v1/me/password', { token: t.manager.token, body: { current_password: 'not-it-at-all', new_password: 'brand-new-password' } });
  assert.equal(wrong.status, 403);
  const short = await call(server, 'POST', '/v1/me/password', { token: t.manager.token, body: { current_password: t.manager.password, new_password: 'short' } });
  assert.equal(short.status, 400);
  const ok = await call(server, 'POST', '/v1/me/password', { token: t.manager.token, body: { current_password: t.manager.password, new_password: 'brand-new-password' } });
  assert.equal(ok.status, 204);
  assert.equal((await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: other.refresh_token } })).status, 401);
  assert.equal((await call(server, 'POST', '/v1/auth/login', { body: { username: t.manager.username, password: t.manager.password } })).status, 401);
  await login(server, t.manager.username, 'brand-new-password');
});

test('a system admin switches into one tenant and back', async () => {
  const [a, b] = world.tenants;
  const sw = await call(server, 'POST', '/v1/auth/switch-tenant', { token: world.sys, body: { tenant_id: a.tenant.id } });
  assert.equal(sw.status, 200);
  assert.equal(sw.json.user.tenant_id, a.tenant.id);
  const sites = await call(server, 'GET', '/v1/sites', { token: sw.json.access_token });
  assert.deepEqual(sites.json.items.map((s) => s.tenant_id), [a.tenant.id, a.tenant.id]);
  assert.equal((await call(server, 'GET', `/v1/sites/${b.sites[0].id}`, { token: sw.json.access_token })).status, 404);
  const refreshed = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: sw.json.refresh_token } });
  assert.equal(refreshed.json.user.tenant_id, a.tenant.id, 'the scope survives a refresh');
  const back = await call(server, 'POST', '/v1/auth/switch-tenant', { token: sw.json.access_token, body: { tenant_id: null } });
  assert.equal(back.json.user.tenant_id, null);
  assert.equal((await call(server, 'GET', '/v1/sites', { token: back.json.access_token })).json.items.length, 4);
  assert.equal((await call(server, 'POST', '/v1/auth/switch-tenant', { token: world.sys, body: { tenant_id: 999999 } })).status, 404);
  assert.equal((await call(server, 'POST', '/v1/auth/switch-tenant', { token: a.admin.token, body: { tenant_id: b.tenant.id } })).status, 403);
});

test('stream tickets are single-use, short-lived and bound to one path', async () => {
  const a = world.tenants[0];
  const t = await call(server, 'POST', '/v1/stream-tickets', { token: a.admin.token, body: { path: '/v1/audit/export.csv' } });
  assert.equal(t.status, 201);
  assert.ok(t.json.expires_in <= 60);
  const wrongPath = await call(server, 'GET', `/v1/audit?ticket=${t.json.ticket}`);
  assert.equal(wrongPath.status, 401, 'tickets only work on ticket routes');
  const csv = await call(server, 'GET', `/v1/audit/export.csv?ticket=${t.json.ticket}`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type'), /text\/csv/);
  assert.match(csv.text, /^id,created_at_ms,tenant_id,actor,action/);
  assert.ok(!csv.text.includes('Beta Bakeries'), 'only the own tenant');
  const again = await call(server, 'GET', `/v1/audit/export.csv?ticket=${t.json.ticket}`);
  assert.equal(again.status, 401, 'spent');
  const bad = await call(server, 'POST', '/v1/stream-tickets', { token: a.admin.token, body: { path: '/v1/sites' } });
  assert.equal(bad.status, 400);
  const viewer = await call(server, 'POST', '/v1/stream-tickets', { token: a.viewer.token, body: { path: '/v1/audit/export.csv' } });
  assert.equal(viewer.status, 400, 'not a stream this role may open');
});

test('failed logins are also limited per client address', async () => {
  const s2 = await new Server({ args: ['--login-max-failures-per-address', '3'] }).start();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await call(s2, 'POST', '/v1/auth/login', { body: { username: `nobody${i}`, password: 'wrong-password!' } });
      assert.equal(r.status, 401);
    }
    const r = await call(s2, 'POST', '/v1/auth/login', { body: { username: 'admin', password: s2.adminPassword } });
    assert.equal(r.status, 429, 'this address is blocked, whatever the username');
  } finally {
    await s2.stop();
    s2.cleanup();
  }
});
