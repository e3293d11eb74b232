// Cameras: kinds and their sources, credentials sealed at rest and masked in
// answers, site scoping.
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

const post = (token, body) => call(server, 'POST', '/v1/cameras', { token, body });

test('each kind with its source; credentials masked and sealed at rest', async () => {
  const site = A.sites[0].id;
  const rtsp = await post(A.admin.token, { site_id: site, name: 'Entrance', kind: 'rtsp', url: 'rtsp://admin:S3cret!pw@192.168.1.20:554/stream1?token=abc123&channel=1' });
  assert.equal(rtsp.status, 201, rtsp.text);
  assert.equal(rtsp.json.url, 'rtsp://admin:****@192.168.1.20:554/stream1?token=****&channel=1');
  assert.equal(rtsp.json.has_credentials, true);
  assert.equal(rtsp.json.sample_fps, 5);
  assert.equal(rtsp.json.entrance, true);
  const mjpeg = await post(A.admin.token, { site_id: site, name: 'Back', kind: 'mjpeg', url: 'http://10.0.0.5:8081/video.mjpg', sample_fps: 2.5, entrance: false });
  assert.equal(mjpeg.status, 201);
  assert.equal(mjpeg.json.url, 'http://10.0.0.5:8081/video.mjpg');
  assert.equal(mjpeg.json.has_credentials, false);
  const file = await post(A.admin.token, { site_id: site, name: 'Demo', kind: 'file', url: '/var/lib/footfall/demo.mp4', processing: false });
  assert.equal(file.status, 201);
  const cam = await post(A.admin.token, { site_id: site, name: 'USB', kind: 'v4l2', device: '/dev/video0' });
  assert.equal(cam.status, 201);
  assert.equal(cam.json.device, '/dev/video0');
  assert.equal(cam.json.url, undefined);

  const stored = server.sql("SELECT source_sealed || ' ' || source_masked FROM cameras");
  assert.ok(!stored.includes('S3cret!pw') && !stored.includes('abc123'), 'no password in the database');
  assert.match(stored, /v1:/);
});

test('kind-specific validation', async () => {
  const site = A.sites[0].id;
  const bad = async (body, field) => {
    const r = await post(A.admin.token, { site_id: site, name: 'X' + Math.random(), ...body });
    assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    if (field) assert.match(r.json.error.message, field);
  };
  await bad({ kind: 'rtsp', url: 'http://x/y' }, /rtsp/);
  await bad({ kind: 'rtsp', url: 'rtsp://' }, /rtsp/);
  await bad({ kind: 'rtsp', url: 'rtsp://user:pw@/x' }, /rtsp/);
  await bad({ kind: 'rtsp', url: 'rtsp://host/with space' }, /spaces/);
  await bad({ kind: 'rtsp' }, /url/);
  await bad({ kind: 'rtsp', device: '/dev/video0' }, /url/);
  await bad({ kind: 'mjpeg', url: 'rtsp://h/x' }, /http/);
  await bad({ kind: 'file', url: 'relative/path.mp4' }, /absolute/);
  await bad({ kind: 'file', url: '/a/../etc/passwd' }, /absolute/);
  await bad({ kind: 'v4l2', device: '/etc/passwd' }, /device/);
  await bad({ kind: 'v4l2', device: '/dev/video0x' }, /device/);
  await bad({ kind: 'v4l2', url: 'rtsp://h/x' }, /device/);
  await bad({ kind: 'ip', url: 'rtsp://h/x' }, /kind/);
  await bad({ kind: 'rtsp', url: 'rtsp://h/x', sample_fps: 0 }, /sample_fps/);
  await bad({ kind: 'rtsp', url: 'rtsp://h/x', sample_fps: 31 }, /sample_fps/);
  await bad({ kind: 'rtsp', url: 'rtsp://h/' + 'x'.repeat(1100) });
  const none = await post(A.admin.token, { name: 'No site', kind: 'rtsp', url: 'rtsp://h/x' });
  assert.equal(none.status, 400);
});

test('updates: source changes re-seal; kind changes need a new source', async () => {
  const c = await post(A.admin.token, { site_id: A.sites[0].id, name: 'Patchable', kind: 'rtsp', url: 'rtsp://a:b@h/x' });
  const onlyKind = await call(server, 'PATCH', `/v1/cameras/${c.json.id}`, { token: A.admin.token, body: { kind: 'mjpeg' } });
  assert.equal(onlyKind.status, 400);
  const moved = await call(server, 'PATCH', `/v1/cameras/${c.json.id}`, { token: A.admin.token, body: { kind: 'mjpeg', url: 'https://cam.local/v.mjpg', processing: false, sample_fps: 10 } });
  assert.equal(moved.status, 200, moved.text);
  assert.equal(moved.json.kind, 'mjpeg');
  assert.equal(moved.json.processing, false);
  assert.equal(moved.json.sample_fps, 10);
  assert.equal(moved.json.has_credentials, false);
  const renamed = await call(server, 'PATCH', `/v1/cameras/${c.json.id}`, { token: A.admin.token, body: { name: 'Entrance' } });
  assert.equal(renamed.status, 409, 'names are unique per site');
});

test('site scoping: managers of their site, viewers read, other tenants see nothing', async () => {
  const mine = await post(A.manager.token, { site_id: A.sites[0].id, name: 'Mgr cam', kind: 'rtsp', url: 'rtsp://h/m' });
  assert.equal(mine.status, 201);
  const other = await post(A.manager.token, { site_id: A.sites[1].id, name: 'Mgr cam', kind: 'rtsp', url: 'rtsp://h/m' });
  assert.equal(other.status, 404, 'not their site');
  const foreign = await post(B.admin.token, { site_id: A.sites[0].id, name: 'Hijack', kind: 'rtsp', url: 'rtsp://h/m' });
  assert.equal(foreign.status, 404);
  const viewer = await post(A.viewer.token, { site_id: A.sites[0].id, name: 'V', kind: 'rtsp', url: 'rtsp://h/m' });
  assert.equal(viewer.status, 403);
  const list = await call(server, 'GET', '/v1/cameras', { token: A.siteViewer.token });
  assert.ok(list.json.items.every((c) => c.site_id === A.sites[1].id));
  const bList = await call(server, 'GET', '/v1/cameras', { token: B.admin.token });
  assert.equal(bList.json.items.length, 0);
  const filtered = await call(server, 'GET', `/v1/cameras?site_id=${A.sites[0].id}`, { token: A.admin.token });
  assert.ok(filtered.json.items.length >= 5 && filtered.json.items.every((c) => c.site_id === A.sites[0].id));
  assert.equal((await call(server, 'GET', `/v1/cameras/${mine.json.id}`, { token: B.admin.token })).status, 404);
  assert.equal((await call(server, 'GET', '/v1/cameras?site_id=abc', { token: A.admin.token })).status, 400);
});

test('a site with cameras is not deleted; a camera delete is audited', async () => {
  const s = await call(server, 'POST', '/v1/sites', { token: A.admin.token, body: { name: 'Temp', timezone: 'UTC' } });
  const c = await post(A.admin.token, { site_id: s.json.id, name: 'Only', kind: 'file', url: '/tmp/x.mp4' });
  assert.equal((await call(server, 'DELETE', `/v1/sites/${s.json.id}`, { token: A.admin.token })).status, 409);
  assert.equal((await call(server, 'DELETE', `/v1/cameras/${c.json.id}`, { token: A.admin.token })).status, 204);
  assert.equal((await call(server, 'DELETE', `/v1/sites/${s.json.id}`, { token: A.admin.token })).status, 204);
  const audit = await call(server, 'GET', '/v1/audit', { token: A.admin.token });
  assert.ok(audit.json.items.some((e) => e.action === 'camera.delete' && e.target_id === String(c.json.id)));
});

test('the vault key survives restarts; a different key cannot open old secrets', async () => {
  const s2 = await new Server().start();
  try {
    const sys = (await call(s2, 'POST', '/v1/auth/login', { body: { username: 'admin', password: s2.adminPassword } })).json.access_token;
    const t = (await call(s2, 'POST', '/v1/tenants', { token: sys, body: { name: 'V' } })).json;
    const site = (await call(s2, 'POST', '/v1/sites', { token: sys, body: { name: 'S', timezone: 'UTC', tenant_id: t.id } })).json;
    const cam = (await call(s2, 'POST', '/v1/cameras', { token: sys, body: { site_id: site.id, name: 'C', kind: 'rtsp', url: 'rtsp://u:pw@h/x' } })).json;
    await s2.stop();
    await s2.start();
    const again = await call(s2, 'GET', `/v1/cameras/${cam.id}`, { token: sys });
    assert.equal(again.json.has_credentials, true, 'still opens with the kept key');
    await s2.stop();
    await s2.start(['--vault-key', 'ab'.repeat(32)]);
    const other = await call(s2, 'GET', `/v1/cameras/${cam.id}`, { token: sys });
    assert.equal(other.json.has_credentials, false, 'another key cannot open it');
    await s2.stop();
    const bad = new Server({ databaseUrl: s2.databaseUrl, args: ['--vault-key', 'nothex'] });
    await assert.rejects(bad.start(), /vault-key/);
    bad.cleanup();
  } finally { await s2.stop(); s2.cleanup(); }
});
