// Bad input on every route family: a clear JSON error, and nothing changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, call, seedWorld } from './lib/server.mjs';

let server, w, A, B;
before(async () => {
  server = await new Server().start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
});
after(async () => { await server.stop(); server.cleanup(); });

/** Everything a bad request could have changed, as one comparable value. */
async function snapshot() {
  const get = async (p) => (await call(server, 'GET', p, { token: w.sys })).json.items;
  return JSON.stringify({
    tenants: await get('/v1/tenants?limit=200'), sites: await get('/v1/sites?limit=200'),
    users: await get('/v1/users?limit=200'), keys: await get('/v1/api-keys?limit=200'),
    audit: (await get('/v1/audit?limit=200')).length,
  });
}

function families() {
  const site = A.sites[0].id, user = A.viewer.id, tenant = A.tenant.id;
  return [
    { name: 'login', method: 'POST', path: '/v1/auth/login', token: null, good: { username: 'admin', password: 'x' }, strField: 'username', intField: null, maxLen: 64 },
    { name: 'tenants', method: 'POST', path: '/v1/tenants', good: { name: 'Z' }, strField: 'name', intField: 'retention_days', maxLen: 128 },
    { name: 'tenant update', method: 'PATCH', path: `/v1/tenants/${tenant}`, good: { name: 'Z2' }, strField: 'name', intField: 'retention_days', maxLen: 128 },
    { name: 'sites', method: 'POST', path: '/v1/sites', good: { name: 'Y', timezone: 'UTC', tenant_id: tenant }, strField: 'name', intField: 'tenant_id', maxLen: 128 },
    { name: 'site update', method: 'PATCH', path: `/v1/sites/${site}`, good: { name: 'Y2' }, strField: 'address', intField: null, maxLen: 512 },
    { name: 'users', method: 'POST', path: '/v1/users', good: { username: 'newbie', password: 'long-enough-pw', role: 'viewer', tenant_id: tenant }, strField: 'display_name', intField: 'site_id', maxLen: 128 },
    { name: 'user update', method: 'PATCH', path: `/v1/users/${user}`, good: { display_name: 'V' }, strField: 'display_name', intField: 'site_id', maxLen: 128 },
    { name: 'api keys', method: 'POST', path: '/v1/api-keys', good: { name: 'k', tenant_id: tenant }, strField: 'name', intField: 'site_id', maxLen: 128 },
    { name: 'tickets', method: 'POST', path: '/v1/stream-tickets', good: { path: '/v1/audit/export.csv' }, strField: 'path', intField: null, maxLen: 256 },
    { name: 'switch tenant', method: 'POST', path: '/v1/auth/switch-tenant', good: { tenant_id: tenant }, strField: null, intField: 'tenant_id', maxLen: 0 },
    { name: 'password', method: 'POST', path: '/v1/me/password', good: { current_password: 'a', new_password: 'bbbbbbbbbbbb' }, strField: 'current_password', intField: null, maxLen: 256 },
  ];
}

async function expectError(f, opts, status, code) {
  const token = f.token === null ? undefined : w.sys;
  const r = await call(server, f.method, f.path, { token, ...opts });
  assert.equal(r.status, status, `${f.name}: ${JSON.stringify(opts).slice(0, 80)} -> ${r.status} ${r.text.slice(0, 200)}`);
  assert.equal(typeof r.json?.error?.message, 'string', `${f.name}: JSON error body`);
  if (code) assert.equal(r.json.error.code, code, `${f.name}: ${r.json.error.message}`);
  return r;
}

test('malformed JSON, wrong types, missing and unknown fields, overlong strings', async () => {
  const before = await snapshot();
  for (const f of families()) {
    const h = { 'Content-Type': 'application/json' };
    await expectError(f, { rawBody: '{"name": ', headers: h }, 400, 'bad_request');
    await expectError(f, { rawBody: '[1,2,3]', headers: h }, 400, 'bad_request');
    await expectError(f, { rawBody: '{"a":1,"a":2}', headers: h }, 400, 'bad_request');
    await expectError(f, { rawBody: 'name=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type');
    await expectError(f, { body: { ...f.good, surprise: 1 } }, 400, 'unknown_field');
    if (f.strField) {
      await expectError(f, { body: { ...f.good, [f.strField]: 12 } }, 400, 'invalid_field');
      await expectError(f, { body: { ...f.good, [f.strField]: 'x'.repeat(f.maxLen + 1) } }, 400, 'invalid_field');
      await expectError(f, { body: { ...f.good, [f.strField]: ['x'] } }, 400, 'invalid_field');
    }
    if (f.intField) {
      await expectError(f, { body: { ...f.good, [f.intField]: '7' } }, 400, 'invalid_field');
      await expectError(f, { body: { ...f.good, [f.intField]: 1.5 } }, 400, 'invalid_field');
    }
    const required = Object.keys(f.good).filter((k) => f.method === 'POST' && !['tenant_id'].includes(k));
    for (const k of required) {
      const body = { ...f.good };
      delete body[k];
      await expectError(f, { body }, 400, 'missing_field');
    }
  }
  assert.equal(await snapshot(), before, 'nothing changed');
});

test('bodies over the limit get 413, declared or chunked', async () => {
  const before = await snapshot();
  const big = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
  const r = await call(server, 'POST', '/v1/sites', { token: w.sys, rawBody: big, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'payload_too_large');
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream({
    pull(ctrl) { if (sent >= 40) ctrl.close(); else { ctrl.enqueue(chunk); sent++; } },
  });
  const res = await fetch(server.url + '/v1/sites', {
    method: 'POST', body: stream, duplex: 'half',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${w.sys}` },
  });
  assert.equal(res.status, 413, 'chunked body over the limit');
  assert.equal(await snapshot(), before);
});

test('semantic errors: time zones, names, roles, ids', async () => {
  const before = await snapshot();
  const t = A.admin.token;
  const bad = async (method, path, body, status = 400, token = t) => {
    const r = await call(server, method, path, { token, body });
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    assert.ok(r.json.error.message.length > 5);
  };
  for (const tz of ['Mars/Olympus', '../../../../etc/passwd', 'Europe', 'posix/Europe/Paris', '', 'Europe/Paris\n'])
    await bad('POST', '/v1/sites', { name: 'Tz', timezone: tz });
  await bad('PATCH', `/v1/sites/${A.sites[0].id}`, { timezone: 'Not/AZone' });
  await bad('POST', '/v1/sites', { name: 'H', timezone: 'UTC', opening_hours: { funday: [] } });
  await bad('POST', '/v1/sites', { name: 'H', timezone: 'UTC', opening_hours: { mon: [['22:00', '08:00']] } });
  await bad('POST', '/v1/sites', { name: 'H', timezone: 'UTC', opening_hours: { mon: [['8am', '9pm']] } });
  await bad('POST', '/v1/sites', { name: ' padded', timezone: 'UTC' });
  await bad('POST', '/v1/sites', { name: 'Nul\u0000name', timezone: 'UTC' });
  await bad('POST', '/v1/users', { username: 'UPPER', password: 'long-enough-pw', role: 'viewer' });
  await bad('POST', '/v1/users', { username: 'x', password: 'long-enough-pw', role: 'viewer' });
  await bad('POST', '/v1/users', { username: 'okname', password: 'short', role: 'viewer' });
  await bad('POST', '/v1/users', { username: 'okname', password: 'long-enough-pw', role: 'worker' });
  await bad('POST', '/v1/users', { username: 'okname', password: 'long-enough-pw', role: 'emperor' });
  await bad('POST', '/v1/users', { username: 'okname', password: 'long-enough-pw', role: 'viewer', site_id: B.sites[0].id });
  await bad('POST', '/v1/tenants', { name: 'R', retention_days: 0 }, 400, w.sys);
  await bad('POST', '/v1/tenants', { name: 'R', retention_days: 100000 }, 400, w.sys);
  await bad('POST', '/v1/tenants', { name: '' }, 400, w.sys);
  await bad('POST', '/v1/sites', { name: 'NoTenant', timezone: 'UTC' }, 400, w.sys);
  await bad('POST', '/v1/sites', { name: 'Foreign', timezone: 'UTC', tenant_id: B.tenant.id }, 404);
  await bad('POST', '/v1/api-keys', { name: 'k', site_id: B.sites[0].id });
  for (const id of ['0', '-1', 'abc', '1e3', '99999999999999999999', String(B.sites[0].id)])
    await bad('GET', `/v1/sites/${id}`, undefined, 404);
  assert.equal(await snapshot(), before, 'nothing changed');
});

test('unknown paths and methods', async () => {
  const r = await call(server, 'GET', '/v1/nope', { token: w.sys });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
  const m = await call(server, 'PUT', '/v1/sites', { token: w.sys, body: {} });
  assert.equal(m.status, 405);
  assert.equal(m.headers.get('allow'), 'GET, POST');
  assert.equal(m.json.error.code, 'method_not_allowed');
});
