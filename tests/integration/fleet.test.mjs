// Fleet control: the worker registry, camera leases and commands.
// Part 1 speaks the worker protocol from the test (register, heartbeat, the
// channel WebSocket) to pin every message; part 2 runs two real
// `footfall worker` processes on file cameras.
import { test, before, beforeEach, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { BIN, Server, call, login, until } from './lib/server.mjs';
import { WsClient } from './lib/ws.mjs';

const INTERVAL = 400; // heartbeat interval of the protocol tests (ms)

async function world(server, name) {
  const sys = (await login(server, 'admin', server.adminPassword)).access_token;
  const t = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name } })).json;
  const site = (await call(server, 'POST', '/v1/sites', { token: sys, body: { name: 'Main', timezone: 'Europe/Paris', tenant_id: t.id } })).json;
  const other = (await call(server, 'POST', '/v1/sites', { token: sys, body: { name: 'Other', timezone: 'Europe/Paris', tenant_id: t.id } })).json;
  await call(server, 'POST', '/v1/users', { token: sys, body: { username: `${name}-owner`, password: 'owner-password', role: 'tenant_admin', tenant_id: t.id } });
  const token = (await login(server, `${name}-owner`, 'owner-password')).access_token;
  const key = (await call(server, 'POST', '/v1/api-keys', { token, body: { name: 'store pc', site_id: site.id } })).json.secret;
  return { sys, tenant: t, site, other, token, key };
}

const camera = async (w, name, url = '/tmp/none.mp4', site = w.site.id) =>
  (await call(server1(), 'POST', '/v1/cameras', { token: w.token, body: { site_id: site, name, kind: 'file', url } })).json;

let S1;
const server1 = () => S1;

/** A worker played by the test: register, heartbeat, optionally the channel. */
class FakeWorker {
  constructor(server, key, opts = {}) {
    this.server = server; this.key = key; this.uuid = opts.uuid || randomUUID(); this.capacity = opts.capacity ?? 4; this.local = opts.local || [];
  }
  body(extra = {}) {
    return { worker_id: this.uuid, heartbeat_interval_ms: INTERVAL, capabilities: { max_cameras: this.capacity }, local_cameras: this.local, ...extra };
  }
  async register(extra) {
    const r = await call(this.server, 'POST', '/v1/worker/register', { token: this.key, body: this.body(extra) });
    assert.equal(r.status, 200, r.text);
    this.id = r.json.id;
    return r.json;
  }
  async heartbeat(extra) {
    return call(this.server, 'POST', '/v1/worker/heartbeat', { token: this.key, body: { worker_id: this.uuid, status: 'processing', ...extra } });
  }
  channel() {
    return WsClient.open(`${this.server.url}/v1/worker/channel?worker_id=${this.uuid}`, { Authorization: `Bearer ${this.key}` });
  }
  async update(id, status, extra = {}) {
    return call(this.server, 'POST', `/v1/worker/commands/${id}`, { token: this.key, body: { worker_id: this.uuid, status, ...extra } });
  }
}

const leased = (answer) => answer.leases.map((l) => l.camera_id).sort((a, b) => a - b);

describe('the worker protocol', () => {
  let A, B, n = 0;
  before(async () => {
    S1 = await new Server().start(['--fleet-sweep-ms', '100', '--fleet-ack-timeout-ms', '600', '--fleet-command-attempts', '2']);
    B = await world(S1, 'fb');
  });
  // Every test in a tenant of its own, so one's cameras and workers never meet another's.
  beforeEach(async () => { A = await world(S1, `fa${n++}`); });
  after(async () => { await S1.stop(); S1.cleanup(); });

  test('register, heartbeat, derived status, leases balanced by capacity and moved when a worker is lost', async () => {
    const cams = [];
    for (const n of ['c1', 'c2', 'c3']) cams.push(await camera(A, n));
    const w1 = new FakeWorker(S1, A.key, { capacity: 2 }), w2 = new FakeWorker(S1, A.key, { capacity: 2 });
    const r1 = await w1.register({ name: 'till 1', version: '1.0' });
    const beat = setInterval(() => w1.heartbeat().catch(() => {}), INTERVAL / 2);
    try {
    assert.equal(r1.worker_id, w1.uuid);
    assert.equal(r1.site_id, A.site.id, 'the site comes from the key');
    assert.deepEqual(leased(r1), cams.slice(0, 2).map((c) => c.id), 'capacity 2: two cameras, the third waits');
    assert.match(r1.leases[0].camera.url, /none\.mp4/, 'the worker gets the source');
    const r2 = await w2.register();
    assert.deepEqual(leased(r2), [cams[2].id]);
    assert.ok(r2.leases[0].generation >= 1);
    // Same uuid again: the same worker, not a new one.
    assert.equal((await w1.register()).id, w1.id);

    let list = (await call(S1, 'GET', '/v1/workers', { token: A.token })).json.items;
    assert.equal(list.length, 2);
    const one = (await call(S1, 'GET', `/v1/workers/${w1.id}`, { token: A.token })).json;
    assert.equal(one.name, 'till 1');
    assert.equal(one.capacity, 2);
    assert.deepEqual(one.leases.map((l) => l.camera_id), cams.slice(0, 2).map((c) => c.id));
    assert.equal(one.leases[0].camera, undefined, 'sources stay on the worker protocol');

    // Camera status shows the holder and what it reports (a device conflict here).
    const hb = await w1.heartbeat({ cameras: [{ id: cams[0].id, state: 'error', reason: 'device /dev/video0 in use by worker x' }] });
    assert.equal(hb.status, 200, hb.text);
    const cam0 = (await call(S1, 'GET', `/v1/cameras/${cams[0].id}`, { token: A.token })).json;
    assert.equal(cam0.status.worker_id, w1.id);
    assert.equal(cam0.status.state, 'error');
    assert.match(cam0.status.reason, /in use/);

    // w2 stops beating: offline after three intervals. w1 is full (capacity 2), so its camera waits
    // unassigned; w1 keeps beating.
      await until(async () => (await call(S1, 'GET', `/v1/workers/${w2.id}`, { token: A.token })).json.status === 'offline', 3 * INTERVAL + 2000, 'w2 offline');
      // The sweeper (every 100 ms here) frees the lease once it has expired; w1 has no room.
      await until(async () => (await call(S1, 'GET', `/v1/cameras/${cams[2].id}`, { token: A.token })).json.status.worker_id === null, 2000, 'the lease to end');
      assert.deepEqual(leased((await w1.heartbeat()).json), cams.slice(0, 2).map((c) => c.id), 'w1 keeps its two');
      const offline = (await call(S1, 'GET', '/v1/workers?status=offline', { token: A.token })).json.items;
      assert.deepEqual(offline.map((w) => w.id), [w2.id]);
      // w2 comes back: it gets the camera again; leases settle.
      const back = await w2.heartbeat();
      assert.equal(back.status, 200);
      assert.deepEqual(leased(back.json), [cams[2].id]);
      assert.ok(back.json.leases[0].generation > r2.leases[0].generation, 'a new lease, a new generation');
      // Maintenance: its cameras move away at once (w1 is full: they wait).
      const m = await call(S1, 'PUT', `/v1/workers/${w2.id}/maintenance`, { token: A.token, body: { maintenance: true } });
      assert.equal(m.status, 200, m.text);
      assert.equal(m.json.status, 'maintenance');
      assert.deepEqual(leased((await w2.heartbeat()).json), []);
      await call(S1, 'PUT', `/v1/workers/${w2.id}/maintenance`, { token: A.token, body: { maintenance: false } });
      assert.deepEqual(leased((await w2.heartbeat()).json), [cams[2].id]);
    } finally { clearInterval(beat); }

    const audit = (await call(S1, 'GET', '/v1/audit', { token: A.token })).json.items.map((e) => e.action);
    assert.ok(audit.includes('worker.register') && audit.includes('worker.maintenance_on'), audit.join());
    for (const c of cams) await call(S1, 'DELETE', `/v1/cameras/${c.id}`, { token: A.token });
    for (const w of [w1, w2]) await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
  });

  test('manual lease and release; leases over the heartbeat carry increasing generations', async () => {
    const c = await camera(A, 'manual');
    const w1 = new FakeWorker(S1, A.key), w2 = new FakeWorker(S1, A.key);
    await w1.register();
    await w2.register();
    const holder = (await call(S1, 'GET', `/v1/cameras/${c.id}`, { token: A.token })).json.status;
    const other = holder.worker_id === w1.id ? w2 : w1;
    const put = await call(S1, 'PUT', `/v1/cameras/${c.id}/lease`, { token: A.token, body: { worker_id: other.id } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.status.worker_id, other.id);
    assert.equal(put.json.status.manual, true);
    assert.ok(put.json.status.lease_generation > holder.lease_generation);
    const answer = (await other.heartbeat()).json;
    assert.deepEqual(leased(answer), [c.id]);
    const assign = answer.commands.find((k) => k.type === 'assign_camera');
    assert.equal(assign.params.generation, put.json.status.lease_generation);
    assert.equal(assign.params.camera.id, c.id);
    const prev = holder.worker_id === w1.id ? w1 : w2;
    const rel = (await prev.heartbeat()).json;
    assert.deepEqual(leased(rel), []);
    assert.ok(rel.commands.some((k) => k.type === 'release_camera' && k.params.camera_id === c.id));
    // bad input: a worker of another site / tenant, unknown fields
    const bw = new FakeWorker(S1, B.key);
    await bw.register();
    for (const body of [{ worker_id: bw.id }, { worker_id: 999999 }, { worker_id: 'x' }, {}, { worker_id: other.id, extra: 1 }]) {
      const r = await call(S1, 'PUT', `/v1/cameras/${c.id}/lease`, { token: A.token, body });
      assert.equal(r.status, 400, JSON.stringify(body) + r.text);
    }
    assert.equal((await call(S1, 'GET', `/v1/cameras/${c.id}`, { token: A.token })).json.status.worker_id, other.id, 'nothing changed');
    const del = await call(S1, 'DELETE', `/v1/cameras/${c.id}/lease`, { token: A.token });
    assert.equal(del.status, 200, del.text);
    assert.equal(del.json.status.manual, false);
    await call(S1, 'DELETE', `/v1/cameras/${c.id}`, { token: A.token });
    for (const w of [w1, w2]) await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
    await call(S1, 'DELETE', `/v1/workers/${bw.id}`, { token: B.token });
  });

  test('commands over the heartbeat: ack, complete, fail; cancel; expiry; retry when not acknowledged', async () => {
    const w = new FakeWorker(S1, A.key);
    await w.register();
    const send = (body) => call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body });
    const a = (await send({ type: 'status_report', priority: 'low' })).json;
    const b = (await send({ type: 'refresh_staff', priority: 'urgent' })).json;
    assert.equal(a.status, 'pending');
    const hb = (await w.heartbeat()).json;
    assert.deepEqual(hb.commands.map((k) => k.id), [b.id, a.id], 'urgent first');
    assert.equal(hb.commands[0].priority, 'urgent');
    assert.equal((await w.update(b.id, 'acknowledged')).json.status, 'acknowledged');
    assert.equal((await w.update(b.id, 'completed', { result: { version: 3 } })).json.status, 'completed');
    assert.equal((await w.update(b.id, 'failed', { error: 'late' })).json.status, 'completed', 'a finished command stays finished');
    assert.equal((await w.update(a.id, 'failed', { error: 'boom' })).json.status, 'failed');
    const got = (await call(S1, 'GET', `/v1/commands/${b.id}`, { token: A.token })).json;
    assert.deepEqual(got.result, { version: 3 });
    assert.ok(got.acknowledged_at_ms && got.finished_at_ms);

    // cancel: pending -> cancelled, never delivered; cancelling again is a conflict
    const c = (await send({ type: 'restart' })).json;
    assert.equal((await call(S1, 'POST', `/v1/commands/${c.id}/cancel`, { token: A.token })).json.status, 'cancelled');
    assert.equal((await call(S1, 'POST', `/v1/commands/${c.id}/cancel`, { token: A.token })).status, 409);
    assert.ok(!(await w.heartbeat()).json.commands.some((k) => k.id === c.id));

    // expiry
    const e = (await send({ type: 'status_report', expires_in_s: 1 })).json;
    await until(async () => (await call(S1, 'GET', `/v1/commands/${e.id}`, { token: A.token })).json.status === 'expired', 4000, 'expiry');

    // sent but never acknowledged: sent again, then failed after the attempts
    const r = (await send({ type: 'status_report' })).json;
    assert.ok((await w.heartbeat()).json.commands.some((k) => k.id === r.id));
    await until(async () => (await call(S1, 'GET', `/v1/commands/${r.id}`, { token: A.token })).json.status === 'pending', 3000, 'retry');
    assert.ok((await w.heartbeat()).json.commands.some((k) => k.id === r.id), 'sent again');
    await until(async () => (await call(S1, 'GET', `/v1/commands/${r.id}`, { token: A.token })).json.status === 'failed', 3000, 'failed');
    assert.equal((await call(S1, 'GET', `/v1/commands/${r.id}`, { token: A.token })).json.attempts, 2);

    const history = (await call(S1, 'GET', `/v1/workers/${w.id}/commands`, { token: A.token })).json.items;
    assert.deepEqual(history.map((k) => k.id), [r.id, e.id, c.id, b.id, a.id], 'newest first, history kept ' + JSON.stringify(history.map((k) => [k.type, k.params])));
    const failed = (await call(S1, 'GET', `/v1/workers/${w.id}/commands?status=failed`, { token: A.token })).json.items;
    assert.deepEqual(failed.map((k) => k.id), [r.id, a.id]);
    const audit = (await call(S1, 'GET', '/v1/audit', { token: A.token })).json.items.map((x) => x.action);
    assert.ok(audit.includes('command.send') && audit.includes('command.cancel'));
    await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
  });

  test('commands over the channel WebSocket, pushed at once; the heartbeat carries none while it is open', async () => {
    const w = new FakeWorker(S1, A.key);
    await w.register();
    const queued = (await call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body: { type: 'status_report' } })).json;
    const ws = await w.channel();
    try {
      assert.deepEqual(await ws.next((m) => m.type === 'hello'), { type: 'hello' });
      const first = await ws.next((m) => m.type === 'command');
      assert.equal(first.command.id, queued.id, 'queued before the connection: delivered on connect');
      const sent = (await call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body: { type: 'stop_streaming', params: { camera_id: 1 } } })).json;
      assert.equal(sent.status, 'sent', 'pushed before the answer');
      const second = await ws.next((m) => m.type === 'command' && m.command.id === sent.id);
      assert.deepEqual(second.command.params, { camera_id: 1 });
      ws.sendJson({ type: 'command_update', id: sent.id, status: 'acknowledged' });
      ws.sendJson({ type: 'command_update', id: sent.id, status: 'completed', result: { camera_id: 1 } });
      ws.sendJson({ type: 'command_update', id: 999999, status: 'completed' });
      assert.match((await ws.next((m) => m.type === 'error')).message, /no command/);
      ws.sendText('not json');
      assert.ok(await ws.next((m) => m.type === 'error'));
      await until(async () => (await call(S1, 'GET', `/v1/commands/${sent.id}`, { token: A.token })).json.status === 'completed', 3000, 'completion');
      assert.equal((await call(S1, 'GET', `/v1/workers/${w.id}`, { token: A.token })).json.channel_connected, true);
      await call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body: { type: 'status_report' } });
      assert.deepEqual((await w.heartbeat()).json.commands, [], 'the channel carries them');
    } finally { await ws.close(); }
    await until(async () => (await call(S1, 'GET', `/v1/workers/${w.id}`, { token: A.token })).json.channel_connected === false, 3000, 'disconnect');
    await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
  });

  test('forgotten worker: heartbeat answers worker_unknown, the channel is closed, registering again works', async () => {
    const w = new FakeWorker(S1, A.key);
    await w.register();
    const ws = await w.channel();
    await ws.next((m) => m.type === 'hello');
    assert.equal((await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token })).status, 204);
    await ws.closedPromise;
    const hb = await w.heartbeat();
    assert.equal(hb.status, 404);
    assert.equal(hb.json.error.code, 'worker_unknown');
    await assert.rejects(w.channel(), (e) => e.status === 404);
    const again = await w.register();
    assert.notEqual(again.id, undefined);
    assert.equal((await w.heartbeat()).status, 200);
    await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
  });

  test('bad input changes nothing; another tenant sees nothing', async () => {
    const w = new FakeWorker(S1, A.key);
    await w.register();
    const bad = [
      {}, { worker_id: 'nope' }, { worker_id: w.uuid, status: 'sleeping' }, { worker_id: w.uuid, heartbeat_interval_ms: 5 },
      { worker_id: w.uuid, cameras: [{ state: 'x' }] }, { worker_id: w.uuid, local_cameras: ['a'] }, { worker_id: w.uuid, capabilities: { max_cameras: -1 } },
      { worker_id: w.uuid, surprise: true }, { worker_id: w.uuid, name: 'x'.repeat(200) },
    ];
    for (const body of bad) {
      const r = await call(S1, 'POST', '/v1/worker/heartbeat', { token: A.key, body });
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
      assert.ok(r.json.error.code);
    }
    assert.equal((await call(S1, 'POST', '/v1/worker/register', { token: A.key, body: { worker_id: randomUUID() } })).status, 400, 'register needs the interval');
    // The same uuid under another tenant's key is refused.
    const stolen = await call(S1, 'POST', '/v1/worker/register', { token: B.key, body: { worker_id: w.uuid, heartbeat_interval_ms: 1000 } });
    assert.equal(stolen.status, 409);
    const send = (body) => call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body });
    for (const body of [{}, { type: 'dance' }, { type: 'assign_camera' }, { type: 'restart', priority: 'asap' }, { type: 'restart', expires_in_s: 0 }, { type: 'restart', params: [] }]) {
      const r = await send(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    assert.equal((await call(S1, 'GET', `/v1/workers/${w.id}/commands`, { token: A.token })).json.items.length, 0, 'nothing queued');
    assert.equal((await call(S1, 'PUT', `/v1/workers/${w.id}/maintenance`, { token: A.token, body: { maintenance: 'yes' } })).status, 400);
    assert.equal((await call(S1, 'GET', '/v1/workers?status=asleep', { token: A.token })).status, 400);
    assert.equal((await call(S1, 'GET', '/v1/workers?site_id=x', { token: A.token })).status, 400);
    const cmd = (await send({ type: 'status_report' })).json;
    // tenant B: no workers of A in lists, 404 on A's ids, its key cannot touch A's command
    assert.deepEqual((await call(S1, 'GET', '/v1/workers', { token: B.token })).json.items, []);
    for (const [m, p, body] of [['GET', `/v1/workers/${w.id}`], ['DELETE', `/v1/workers/${w.id}`], ['GET', `/v1/workers/${w.id}/commands`],
      ['POST', `/v1/workers/${w.id}/commands`, { type: 'restart' }], ['PUT', `/v1/workers/${w.id}/maintenance`, { maintenance: true }],
      ['GET', `/v1/commands/${cmd.id}`], ['POST', `/v1/commands/${cmd.id}/cancel`]]) {
      const r = await call(S1, m, p, { token: B.token, body });
      assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
    }
    const bw = new FakeWorker(S1, B.key);
    await bw.register();
    const cross = await call(S1, 'POST', `/v1/worker/commands/${cmd.id}`, { token: B.key, body: { worker_id: bw.uuid, status: 'completed' } });
    assert.equal(cross.status, 404);
    assert.equal((await call(S1, 'GET', `/v1/commands/${cmd.id}`, { token: A.token })).json.status, 'pending');
    await call(S1, 'DELETE', `/v1/workers/${w.id}`, { token: A.token });
    await call(S1, 'DELETE', `/v1/workers/${bw.id}`, { token: B.token });
  });

  test('/metrics counts the fleet', async () => {
    const text = (await call(S1, 'GET', '/metrics')).text;
    assert.match(text, /^footfall_fleet_heartbeats_total [1-9]/m);
    assert.match(text, /^footfall_fleet_commands_sent_total\{via="channel"\} [1-9]/m);
    assert.match(text, /^footfall_fleet_commands_finished_total\{status="expired"\} [1-9]/m);
    assert.match(text, /^footfall_websocket_connections 0/m);
  });
});

describe('a server restart', () => {
  test('pending commands survive and are delivered; workers carry on', async () => {
    const s = await new Server().start(['--fleet-sweep-ms', '100']);
    S1 = s;
    try {
      const A = await world(s, 'fr');
      const c = await camera(A, 'door');
      const w = new FakeWorker(s, A.key);
      const r = await w.register();
      assert.deepEqual(leased(r), [c.id]);
      const cmd = (await call(s, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body: { type: 'status_report' } })).json;
      await s.stop();
      await s.start(['--fleet-sweep-ms', '100']);
      const hb = await w.heartbeat();
      assert.equal(hb.status, 200, 'the registry is in the database');
      assert.deepEqual(leased(hb.json), [c.id], 'the lease too');
      assert.deepEqual(hb.json.commands.map((k) => k.id), [cmd.id]);
    } finally { await s.stop(); s.cleanup(); }
  });
});
