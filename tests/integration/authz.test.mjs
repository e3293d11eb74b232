// The authorization matrix: every route of the OpenAPI document x every kind
// of caller -> the expected answer. Another tenant's ids answer 404, never
// 403; a role that may never do something gets 403; no credentials 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, call, seedWorld } from './lib/server.mjs';

let server, w, A, B, targets;

before(async () => {
  server = await new Server().start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
  // Throwaway rows of tenant A for the DELETE routes.
  const doomedUser = await call(server, 'POST', '/v1/users', { token: A.admin.token, body: { username: 'doomed', password: 'doomed-password', role: 'viewer' } });
  const doomedKey = await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'doomed' } });
  const cam = async (name) => (await call(server, 'POST', '/v1/cameras', { token: A.admin.token, body: { site_id: A.sites[1].id, name, kind: 'rtsp', url: 'rtsp://u:p@10.0.0.2/s' } })).json.id;
  const staff = async (name) => (await call(server, 'POST', '/v1/staff', { token: A.admin.token, body: { name, home_site_id: A.sites[1].id } })).json.id;
  // Workers of A's second site (a key bound to it), one to forget, and a command.
  const siteKey = (await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'second store', site_id: A.sites[1].id } })).json.secret;
  const worker = async (uuid) => (await call(server, 'POST', '/v1/worker/register', { token: siteKey, body: { worker_id: uuid, heartbeat_interval_ms: 60000 } })).json.id;
  const workerId = await worker('aaaaaaaa-0000-4000-8000-000000000001');
  const doomedWorker = await worker('aaaaaaaa-0000-4000-8000-000000000002');
  const command = (await call(server, 'POST', `/v1/workers/${workerId}/commands`, { token: A.admin.token, body: { type: 'status_report' } })).json.id;
  targets = { user: doomedUser.json.id, key: doomedKey.json.id, camera: await cam('Door'), doomedCamera: await cam('Doomed'),
    staff: await staff('Barista'), doomedStaff: await staff('Leaver'), worker: workerId, doomedWorker, command };
});
after(async () => { await server.stop(); server.cleanup(); });

const CALLERS = ['none', 'expired', 'tampered', 'worker', 'viewer', 'otherSiteManager', 'otherTenantAdmin', 'systemAdmin'];

function tokenFor(caller) {
  const now = Math.floor(Date.now() / 1000);
  switch (caller) {
    case 'none': return undefined;
    case 'expired': return server.forgeToken({ sub: String(A.admin.id), exp: now - 1 });
    case 'tampered': { const t = A.admin.token; return t.slice(0, -2) + (t.endsWith('xx') ? 'yy' : 'xx'); }
    case 'worker': return A.key.secret;
    case 'viewer': return A.viewer.token;
    case 'otherSiteManager': return A.manager.token; // bound to A's first site; targets use A's second
    case 'otherTenantAdmin': return B.admin.token;
    case 'systemAdmin': return w.sys;
  }
}

// allow = authorized (any answer but 401/403/404); numbers = exact status.
const U = 401, F = 403, N = 404, ok = 'allow';
const unauth = { none: U, expired: U, tampered: U };
const publicRoute = Object.fromEntries(CALLERS.map((c) => [c, ok]));
const usersOnly = { ...unauth, worker: F, viewer: ok, otherSiteManager: ok, otherTenantAdmin: ok, systemAdmin: ok };
const systemOnly = { ...unauth, worker: F, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: ok };
const adminsOwnTenant = { ...unauth, worker: F, viewer: F, otherSiteManager: F, otherTenantAdmin: N, systemAdmin: ok };
const adminsLists = { ...unauth, worker: F, viewer: F, otherSiteManager: F, otherTenantAdmin: ok, systemAdmin: ok };

function matrix() {
  const site = A.sites[1].id, tenant = A.tenant.id;
  const uniq = () => Math.random().toString(36).slice(2, 8);
  return {
    'GET /healthz': [() => ({ path: '/healthz' }), publicRoute],
    'GET /readyz': [() => ({ path: '/readyz' }), publicRoute],
    'GET /metrics': [() => ({ path: '/metrics' }), publicRoute],
    'GET /v1/openapi.json': [() => ({ path: '/v1/openapi.json' }), publicRoute],
    'POST /v1/auth/login': [() => ({ path: '/v1/auth/login', body: { username: 'nobody' + uniq(), password: 'x' } }), Object.fromEntries(CALLERS.map((c) => [c, U]))],
    'POST /v1/auth/refresh': [() => ({ path: '/v1/auth/refresh', body: { refresh_token: 'ffr_nothing' } }), Object.fromEntries(CALLERS.map((c) => [c, U]))],
    'POST /v1/auth/logout': [() => ({ path: '/v1/auth/logout', body: {} }), publicRoute],
    'POST /v1/auth/switch-tenant': [() => ({ path: '/v1/auth/switch-tenant', body: { tenant_id: tenant } }), systemOnly],
    'GET /v1/me': [() => ({ path: '/v1/me' }), usersOnly],
    'POST /v1/me/password': [() => ({ path: '/v1/me/password', body: {} }), usersOnly],
    'POST /v1/stream-tickets': [() => ({ path: '/v1/stream-tickets', body: { path: '/v1/audit/export.csv' } }), usersOnly],
    'GET /v1/tenants': [() => ({ path: '/v1/tenants' }), systemOnly],
    'POST /v1/tenants': [() => ({ path: '/v1/tenants', body: { name: 'T ' + uniq() } }), systemOnly],
    'GET /v1/tenants/{id}': [() => ({ path: `/v1/tenants/${tenant}` }), { ...usersOnly, otherTenantAdmin: N }],
    'PATCH /v1/tenants/{id}': [() => ({ path: `/v1/tenants/${tenant}`, body: {} }), systemOnly],
    'DELETE /v1/tenants/{id}': [() => ({ path: `/v1/tenants/${tenant}` }), systemOnly],
    'GET /v1/sites': [() => ({ path: '/v1/sites' }), usersOnly],
    'POST /v1/sites': [() => ({ path: '/v1/sites', body: { name: 'S ' + uniq(), timezone: 'UTC', tenant_id: tenant } }), adminsOwnTenant],
    'GET /v1/sites/{id}': [() => ({ path: `/v1/sites/${site}` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'PATCH /v1/sites/{id}': [() => ({ path: `/v1/sites/${site}`, body: {} }), { ...adminsOwnTenant, otherSiteManager: N }],
    'DELETE /v1/sites/{id}': [() => ({ path: `/v1/sites/${site}` }), adminsOwnTenant],
    'GET /v1/cameras': [() => ({ path: '/v1/cameras' }), usersOnly],
    'POST /v1/cameras': [() => ({ path: '/v1/cameras', body: { site_id: site, name: 'C ' + uniq(), kind: 'rtsp', url: 'rtsp://10.0.0.9/s' } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'GET /v1/cameras/{id}': [() => ({ path: `/v1/cameras/${targets.camera}` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'PATCH /v1/cameras/{id}': [() => ({ path: `/v1/cameras/${targets.camera}`, body: {} }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'DELETE /v1/cameras/{id}': [() => ({ path: `/v1/cameras/${targets.doomedCamera}` }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'PUT /v1/cameras/{id}/lease': [() => ({ path: `/v1/cameras/${targets.camera}/lease`, body: { worker_id: 999999 } }), adminsOwnTenant],
    'DELETE /v1/cameras/{id}/lease': [() => ({ path: `/v1/cameras/${targets.camera}/lease` }), adminsOwnTenant],
    'POST /v1/cameras/{id}/commands': [() => ({ path: `/v1/cameras/${targets.camera}/commands`, body: { type: 'start_streaming' } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'GET /v1/workers': [() => ({ path: '/v1/workers' }), usersOnly],
    'GET /v1/workers/{id}': [() => ({ path: `/v1/workers/${targets.worker}` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'DELETE /v1/workers/{id}': [() => ({ path: `/v1/workers/${targets.doomedWorker}` }), adminsOwnTenant],
    'PUT /v1/workers/{id}/maintenance': [() => ({ path: `/v1/workers/${targets.worker}/maintenance`, body: { maintenance: false } }), adminsOwnTenant],
    'GET /v1/workers/{id}/commands': [() => ({ path: `/v1/workers/${targets.worker}/commands` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'POST /v1/workers/{id}/commands': [() => ({ path: `/v1/workers/${targets.worker}/commands`, body: { type: 'status_report' } }), adminsOwnTenant],
    'GET /v1/commands/{id}': [() => ({ path: `/v1/commands/${targets.command}` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'POST /v1/commands/{id}/cancel': [() => ({ path: '/v1/commands/999999/cancel' }), { ...adminsOwnTenant, systemAdmin: N }],
    'GET /v1/customers': [() => ({ path: '/v1/customers' }), usersOnly],
    'GET /v1/customers/{id}': [() => ({ path: '/v1/customers/999999' }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/customers/merge': [() => ({ path: '/v1/customers/merge', body: { target_id: 999998, source_ids: [999999] } }), { ...adminsLists, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/customers/search': [() => ({ path: '/v1/customers/search', body: { image: 'bm90IGFuIGltYWdl' } }), { ...unauth, worker: F, viewer: F, otherSiteManager: 422, otherTenantAdmin: 422, systemAdmin: 400 }],
    'PATCH /v1/customers/{id}': [() => ({ path: '/v1/customers/999999', body: {} }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/customers/{id}/erase': [() => ({ path: '/v1/customers/999999/erase' }), { ...adminsLists, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/customers/{id}/split': [() => ({ path: '/v1/customers/999999/split', body: { visit_ids: [1] } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/customers/{id}/not-same-person': [() => ({ path: '/v1/customers/999999/not-same-person', body: { other_customer_id: 1 } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/customers/{id}/similar': [() => ({ path: '/v1/customers/999999/similar' }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/customers/{id}/faces': [() => ({ path: '/v1/customers/999999/faces' }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'DELETE /v1/visits/{id}': [() => ({ path: '/v1/visits/999999' }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/visits/{id}/reassign': [() => ({ path: '/v1/visits/999999/reassign', body: { customer_id: 1 } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'POST /v1/visits/{id}/merge': [() => ({ path: '/v1/visits/999999/merge', body: { visit_ids: [999998] } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/visits/{id}/picture': [() => ({ path: '/v1/visits/999999/picture' }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/visits': [() => ({ path: '/v1/visits' }), usersOnly],
    'GET /v1/visits/{id}': [() => ({ path: '/v1/visits/999999' }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/tenants/{id}/settings': [() => ({ path: `/v1/tenants/${tenant}/settings` }), adminsOwnTenant],
    'PATCH /v1/tenants/{id}/settings': [() => ({ path: `/v1/tenants/${tenant}/settings`, body: {} }), adminsOwnTenant],
    'GET /v1/staff': [() => ({ path: '/v1/staff' }), usersOnly],
    'POST /v1/staff': [() => ({ path: '/v1/staff', body: { name: 'S ' + uniq(), tenant_id: tenant } }), { ...adminsOwnTenant, otherSiteManager: 400 }],
    'POST /v1/staff/recognize': [() => ({ path: '/v1/staff/recognize', body: { image: 'bm90IGFuIGltYWdl' } }), { ...unauth, worker: F, viewer: F, otherSiteManager: 422, otherTenantAdmin: 422, systemAdmin: 400 }],
    'GET /v1/staff/{id}': [() => ({ path: `/v1/staff/${targets.staff}` }), { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N }],
    'PATCH /v1/staff/{id}': [() => ({ path: `/v1/staff/${targets.staff}`, body: {} }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'DELETE /v1/staff/{id}': [() => ({ path: `/v1/staff/${targets.doomedStaff}` }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'POST /v1/staff/{id}/faces': [() => ({ path: `/v1/staff/${targets.staff}/faces`, body: { image: 'bm90IGFuIGltYWdl' } }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: 422 }],
    'DELETE /v1/staff/{id}/faces/{face_id}': [() => ({ path: `/v1/staff/${targets.staff}/faces/999999` }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/staff/{id}/faces/{face_id}/picture': [() => ({ path: `/v1/staff/${targets.staff}/faces/999999/picture` }), { ...usersOnly, viewer: N, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/worker/staff': [() => ({ path: '/v1/worker/staff' }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'POST /v1/worker/events': [() => ({ path: '/v1/worker/events', body: { events: [{ id: 'not-a-uuid' }] } }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'POST /v1/worker/register': [() => ({ path: '/v1/worker/register', body: { worker_id: 'not-a-uuid' } }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'POST /v1/worker/heartbeat': [() => ({ path: '/v1/worker/heartbeat', body: { worker_id: 'not-a-uuid' } }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'GET /v1/worker/channel': [() => ({ path: '/v1/worker/channel' }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'POST /v1/worker/commands/{id}': [() => ({ path: '/v1/worker/commands/1', body: {} }), { ...unauth, worker: ok, viewer: F, otherSiteManager: F, otherTenantAdmin: F, systemAdmin: F }],
    'GET /v1/users': [() => ({ path: '/v1/users' }), adminsLists],
    'POST /v1/users': [() => ({ path: '/v1/users', body: { username: 'u' + uniq(), password: 'long-enough-pw', role: 'viewer', tenant_id: tenant } }), adminsOwnTenant],
    'GET /v1/users/{id}': [() => ({ path: `/v1/users/${A.viewer.id}` }), adminsOwnTenant],
    'PATCH /v1/users/{id}': [() => ({ path: `/v1/users/${A.viewer.id}`, body: {} }), adminsOwnTenant],
    'DELETE /v1/users/{id}': [() => ({ path: `/v1/users/${targets.user}` }), adminsOwnTenant],
    'GET /v1/api-keys': [() => ({ path: '/v1/api-keys' }), adminsLists],
    'POST /v1/api-keys': [() => ({ path: '/v1/api-keys', body: { name: 'k' + uniq(), tenant_id: tenant } }), adminsOwnTenant],
    'GET /v1/api-keys/{id}': [() => ({ path: `/v1/api-keys/${A.key.id}` }), adminsOwnTenant],
    'DELETE /v1/api-keys/{id}': [() => ({ path: `/v1/api-keys/${targets.key}` }), adminsOwnTenant],
    'GET /v1/customers/{id}/export': [() => ({ path: '/v1/customers/999999/export' }), { ...adminsLists, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/do-not-track': [() => ({ path: '/v1/do-not-track' }), adminsLists],
    'POST /v1/do-not-track': [() => ({ path: '/v1/do-not-track', body: { image: 'bm90IGFuIGltYWdl' } }), { ...adminsLists, otherTenantAdmin: 422, systemAdmin: 400 }],
    'DELETE /v1/do-not-track/{id}': [() => ({ path: '/v1/do-not-track/999999' }), { ...adminsLists, otherTenantAdmin: N, systemAdmin: N }],
    'GET /v1/jobs': [() => ({ path: '/v1/jobs' }), adminsLists],
    'POST /v1/jobs/{name}/run': [() => ({ path: '/v1/jobs/staff-lists/run' }), systemOnly],
    'POST /v1/admin/clock': [() => ({ path: '/v1/admin/clock', body: { advance_ms: 1 } }), { ...systemOnly, systemAdmin: N }],
    // Reports on A's second site: the manager of A's first site and B's admin get 404
    // (the site is not theirs); an unscoped system admin must switch into a tenant (400).
    ...Object.fromEntries(['summary', 'series', 'heatmap', 'demographics', 'new-returning', 'sites'].map((name) => [
      `GET /v1/reports/${name}`,
      [() => ({ path: `/v1/reports/${name}?from=2026-01-01&to=2026-01-31&site_id=${site}` }),
        { ...usersOnly, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: 400 }]])),
    'GET /v1/audit': [() => ({ path: '/v1/audit' }), adminsLists],
    'GET /v1/audit/export.csv': [() => ({ path: '/v1/audit/export.csv' }), adminsLists],
    'GET /v1/events': [() => ({ path: '/v1/events', stream: true }), usersOnly],
    'GET /v1/ws': [() => ({ path: '/v1/ws' }), usersOnly],
    'GET /v1/cameras/{id}/live.mjpeg': [() => ({ path: `/v1/cameras/${targets.camera}/live.mjpeg`, stream: true }), { ...unauth, worker: F, viewer: ok, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: ok }],
    'GET /v1/workers/{id}/logs': [() => ({ path: '/v1/workers/999999/logs' }), { ...unauth, worker: F, viewer: F, otherSiteManager: N, otherTenantAdmin: N, systemAdmin: N }],
  };
}

test('every documented route has a row in the matrix', async () => {
  const doc = (await call(server, 'GET', '/v1/openapi.json')).json;
  const rows = matrix();
  const documented = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of Object.keys(item)) documented.push(`${method.toUpperCase()} ${path}`);
  for (const r of documented) assert.ok(rows[r], `no authorization expectations for ${r}`);
  for (const r of Object.keys(rows)) assert.ok(documented.includes(r), `matrix row ${r} is not a documented route`);
});

/** A streamed answer (SSE): the status, and the body only when it is an error. */
async function open(path, token) {
  const ac = new AbortController();
  const res = await fetch(server.url + path, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal: ac.signal });
  if (res.status === 200) {
    ac.abort();
    return { status: 200, text: '' };
  }
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

test('route x caller -> expected status', async () => {
  const failures = [];
  for (const [route, [make, expect]] of Object.entries(matrix())) {
    const method = route.split(' ')[0];
    for (const caller of CALLERS) {
      const { path, body, stream } = make();
      const r = stream ? await open(path, tokenFor(caller)) : await call(server, method, path, { token: tokenFor(caller), body });
      const want = expect[caller];
      const good = want === ok ? ![401, 403, 404].includes(r.status) && r.status < 500 : r.status === want;
      if (!good) failures.push(`${route} as ${caller}: got ${r.status} (${r.text.slice(0, 120)}), want ${want}`);
      if (r.status >= 400) assert.ok(r.json?.error?.code, `${route} as ${caller}: error without JSON code`);
    }
  }
  assert.deepEqual(failures, []);
});
