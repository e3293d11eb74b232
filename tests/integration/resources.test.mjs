// Tenants, sites, users, worker keys and the audit log: the happy paths and
// the rules around them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, call, login, seedWorld } from './lib/server.mjs';

let server, w, A, B;
before(async () => {
  server = await new Server().start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
});
after(async () => { await server.stop(); server.cleanup(); });

test('tenant lifecycle: create, rename, retention, delete only when empty', async () => {
  const t = await call(server, 'POST', '/v1/tenants', { token: w.sys, body: { name: 'Gamma Grill', retention_days: 14 } });
  assert.equal(t.status, 201);
  assert.equal(t.json.retention_days, 14);
  const dup = await call(server, 'POST', '/v1/tenants', { token: w.sys, body: { name: 'Gamma Grill' } });
  assert.equal(dup.status, 409);
  const r = await call(server, 'PATCH', `/v1/tenants/${t.json.id}`, { token: w.sys, body: { name: 'Gamma Grill & Bar', retention_days: 30 } });
  assert.equal(r.json.name, 'Gamma Grill & Bar');
  const site = await call(server, 'POST', '/v1/sites', { token: w.sys, body: { name: 'Only', timezone: 'America/New_York', tenant_id: t.json.id } });
  assert.equal(site.status, 201);
  const busy = await call(server, 'DELETE', `/v1/tenants/${t.json.id}`, { token: w.sys });
  assert.equal(busy.status, 409);
  assert.equal((await call(server, 'DELETE', `/v1/sites/${site.json.id}`, { token: w.sys })).status, 204);
  assert.equal((await call(server, 'DELETE', `/v1/tenants/${t.json.id}`, { token: w.sys })).status, 204);
  assert.equal((await call(server, 'GET', `/v1/tenants/${t.json.id}`, { token: w.sys })).status, 404);
});

test('sites carry a validated IANA zone and opening hours', async () => {
  const s = await call(server, 'POST', '/v1/sites', {
    token: A.admin.token,
    body: { name: 'Saigon', timezone: 'Asia/Ho_Chi_Minh', address: '1 Le Loi', opening_hours: { mon: [['07:00', '22:00']], sun: [] } },
  });
  assert.equal(s.status, 201, s.text);
  assert.equal(s.json.tenant_id, A.tenant.id, 'a tenant admin creates in their own tenant');
  assert.deepEqual(s.json.opening_hours.mon, [['07:00', '22:00']]);
  const upd = await call(server, 'PATCH', `/v1/sites/${s.json.id}`, { token: A.admin.token, body: { timezone: 'Europe/London', address: null } });
  assert.equal(upd.json.timezone, 'Europe/London');
  assert.equal(upd.json.address, null);
  const mgr = await call(server, 'PATCH', `/v1/sites/${A.sites[0].id}`, { token: A.manager.token, body: { address: 'Rue 2' } });
  assert.equal(mgr.status, 200, 'a site manager edits their own site');
  const dup = await call(server, 'POST', '/v1/sites', { token: A.admin.token, body: { name: 'Saigon', timezone: 'UTC' } });
  assert.equal(dup.status, 409);
  const sameNameOtherTenant = await call(server, 'POST', '/v1/sites', { token: B.admin.token, body: { name: 'Saigon', timezone: 'UTC' } });
  assert.equal(sameNameOtherTenant.status, 201, 'site names are unique per tenant only');
});

test('site managers and site viewers see only their site', async () => {
  const m = await call(server, 'GET', '/v1/sites', { token: A.manager.token });
  assert.deepEqual(m.json.items.map((s) => s.id), [A.sites[0].id]);
  const v = await call(server, 'GET', '/v1/sites', { token: A.siteViewer.token });
  assert.deepEqual(v.json.items.map((s) => s.id), [A.sites[1].id]);
  const tv = await call(server, 'GET', '/v1/sites', { token: A.viewer.token });
  assert.ok(tv.json.items.length >= 2 && tv.json.items.every((s) => s.tenant_id === A.tenant.id));
});

test('lists page with a cursor', async () => {
  const seen = [];
  let cursor = null;
  do {
    const r = await call(server, 'GET', `/v1/sites?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token: w.sys });
    assert.equal(r.status, 200);
    assert.ok(r.json.items.length <= 1);
    seen.push(...r.json.items.map((s) => s.id));
    cursor = r.json.next_cursor;
  } while (cursor);
  const all = await call(server, 'GET', '/v1/sites?limit=200', { token: w.sys });
  assert.deepEqual(seen, all.json.items.map((s) => s.id));
  assert.equal((await call(server, 'GET', '/v1/sites?limit=0', { token: w.sys })).status, 400);
  assert.equal((await call(server, 'GET', '/v1/sites?limit=201', { token: w.sys })).status, 400);
  assert.equal((await call(server, 'GET', '/v1/sites?cursor=x', { token: w.sys })).status, 400);
});

test('tenant admins manage their non-admin users only', async () => {
  const v = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'cashier.one', password: 'cashier-password', role: 'viewer', display_name: 'Cashier' } });
  assert.equal(v.status, 201, v.text);
  const escalate = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'boss2', password: 'boss2-password', role: 'tenant_admin' } });
  assert.equal(escalate.status, 403);
  const sys = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'root2', password: 'root2-password', role: 'system_admin' } });
  assert.equal(sys.status, 403);
  const promote = await call(server, 'PATCH', `/v1/users/${v.json.id}`, { token: A.admin.token, body: { role: 'tenant_admin' } });
  assert.equal(promote.status, 403);
  const toManager = await call(server, 'PATCH', `/v1/users/${v.json.id}`, { token: A.admin.token, body: { role: 'site_manager', site_id: A.sites[1].id } });
  assert.equal(toManager.status, 200);
  assert.equal(toManager.json.site_id, A.sites[1].id);
  const foreignSite = await call(server, 'PATCH', `/v1/users/${v.json.id}`, { token: A.admin.token, body: { site_id: B.sites[0].id } });
  assert.equal(foreignSite.status, 400, 'a site of another tenant is refused');
  const managerNoSite = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'mgr.nosite', password: 'mgr-password-x', role: 'site_manager' } });
  assert.equal(managerNoSite.status, 400);
  const taken = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'cashier.one', password: 'cashier-password', role: 'viewer' } });
  assert.equal(taken.status, 409);
  const self = await call(server, 'DELETE', `/v1/users/${A.admin.id}`, { token: A.admin.token });
  assert.equal(self.status, 403);
  const off = await call(server, 'PATCH', `/v1/users/${v.json.id}`, { token: A.admin.token, body: { active: false } });
  assert.equal(off.json.active, false);
  assert.equal((await call(server, 'POST', '/v1/auth/login', { body: { username: 'cashier.one', password: 'cashier-password' } })).status, 401);
  const reset = await call(server, 'PATCH', `/v1/users/${v.json.id}`, { token: A.admin.token, body: { active: true, password: 'a-new-password' } });
  assert.equal(reset.status, 200);
  await login(server, 'cashier.one', 'a-new-password');
  assert.equal((await call(server, 'DELETE', `/v1/users/${v.json.id}`, { token: A.admin.token })).status, 204);
});

test('worker keys: secret once, role fixed, revoke works at once', async () => {
  const k = await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'front door pc', site_id: A.sites[1].id } });
  assert.equal(k.status, 201);
  assert.match(k.json.secret, /^ffk_[0-9a-f]{8}_/);
  assert.equal(k.json.role, 'worker');
  const got = await call(server, 'GET', `/v1/api-keys/${k.json.id}`, { token: A.admin.token });
  assert.equal(got.json.secret, undefined, 'the secret is never shown again');
  const list = await call(server, 'GET', '/v1/api-keys', { token: A.admin.token });
  assert.ok(list.json.items.every((x) => x.secret === undefined && x.tenant_id === A.tenant.id));
  const admin = await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'evil', role: 'system_admin' } });
  assert.equal(admin.status, 400, 'no key can have another role');
  const past = await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'old', expires_at_ms: Date.now() - 1000 } });
  assert.equal(past.status, 400);
  // The key authenticates (as a worker: user routes answer 403, not 401).
  assert.equal((await call(server, 'GET', '/v1/me', { token: k.json.secret })).status, 403);
  const wrong = k.json.secret.slice(0, -4) + 'AAAA';
  assert.equal((await call(server, 'GET', '/v1/me', { token: wrong })).status, 401);
  assert.equal((await call(server, 'DELETE', `/v1/api-keys/${k.json.id}`, { token: A.admin.token })).status, 204);
  assert.equal((await call(server, 'GET', '/v1/me', { token: k.json.secret })).status, 401, 'revoked');
  const after = await call(server, 'GET', `/v1/api-keys/${k.json.id}`, { token: A.admin.token });
  assert.ok(after.json.revoked_at_ms > 0);
  assert.ok(after.json.last_used_at_ms > 0, 'last use recorded');
});

test('every mutation is in the audit log, scoped to the tenant', async () => {
  const a = await call(server, 'GET', '/v1/audit?limit=200', { token: A.admin.token });
  assert.equal(a.status, 200);
  assert.ok(a.json.items.every((e) => e.tenant_id === A.tenant.id));
  const actions = new Set(a.json.items.map((e) => e.action));
  for (const act of ['site.create', 'user.create', 'user.update', 'user.delete', 'api_key.create', 'api_key.revoke'])
    assert.ok(actions.has(act), `audit has ${act}`);
  const entry = a.json.items.find((e) => e.action === 'api_key.revoke');
  assert.equal(entry.actor, A.admin.username);
  assert.match(entry.request_id, /^[0-9a-f]{16}$/);
  const sys = await call(server, 'GET', '/v1/audit?limit=200', { token: w.sys });
  assert.ok(sys.json.items.some((e) => e.action === 'tenant.create'));
});

test('footfall admin creates tenants, sites, users and keys from the shell', async () => {
  const t = server.admin('create-tenant', '--name', 'Shell Tenant');
  const s = server.admin('create-site', '--tenant-id', String(t.tenant_id), '--name', 'Main', '--timezone', 'Europe/Berlin');
  const u = server.admin('create-user', '--username', 'shell.admin', '--password', 'shell-password', '--role', 'tenant_admin', '--tenant-id', String(t.tenant_id));
  const k = server.admin('create-api-key', '--tenant-id', String(t.tenant_id), '--name', 'pc', '--site-id', String(s.site_id));
  assert.ok(u.user_id > 0 && k.secret.startsWith('ffk_'));
  const session = await login(server, 'shell.admin', 'shell-password');
  const sites = await call(server, 'GET', '/v1/sites', { token: session.access_token });
  assert.deepEqual(sites.json.items.map((x) => x.name), ['Main']);
  assert.throws(() => server.admin('create-site', '--tenant-id', String(t.tenant_id), '--name', 'X', '--timezone', 'Nowhere/Land'));
});
