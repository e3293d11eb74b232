// Fleet control: the worker registry, camera leases and commands.
// Part 1 speaks the worker protocol from the test (register, heartbeat, the
// channel WebSocket) to pin every message; part 2 runs two real
// `footfall worker` processes on file cameras.
import { test, before, beforeEach, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Server, call, login, until } from './lib/server.mjs';
import { WsClient } from './lib/ws.mjs';
import { HB, RealWorker } from './lib/worker.mjs';

const INTERVAL = 1000; // heartbeat interval of the protocol tests (ms): slack for a loaded machine

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
    this.interval = opts.interval || INTERVAL;
  }
  body(extra = {}) {
    return { worker_id: this.uuid, heartbeat_interval_ms: this.interval, capabilities: { max_cameras: this.capacity }, local_cameras: this.local, ...extra };
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
    const beat = setInterval(() => w1.heartbeat().catch(() => {}), INTERVAL / 4);
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
    // The list carries the same cameras as ids, for every worker at once.
    for (const w of list) {
      const details = (await call(S1, 'GET', `/v1/workers/${w.id}`, { token: A.token })).json;
      assert.deepEqual(w.camera_ids, details.leases.map((l) => l.camera_id), `camera_ids of ${w.name}`);
    }
    assert.deepEqual(list.find((w) => w.id === w1.id).camera_ids, cams.slice(0, 2).map((c) => c.id));

    // Camera status shows the holder and what it reports (a device conflict here).
    const hb = await w1.heartbeat({ cameras: [{ id: cams[0].id, state: 'error', reason: 'device /dev/video0 in use by worker x' }] });
    assert.equal(hb.status, 200, hb.text);
    const cam0 = (await call(S1, 'GET', `/v1/cameras/${cams[0].id}`, { token: A.token })).json;
    assert.equal(cam0.status.worker_id, w1.id);
    assert.equal(cam0.status.state, 'error');
    assert.match(cam0.status.reason, /in use/);
    const listed = (await call(S1, 'GET', `/v1/cameras?site_id=${A.site.id}`, { token: A.token })).json.items;
    assert.deepEqual(listed.find((c) => c.id === cam0.id).status, cam0.status, 'the list shows the same status');
    const unplaced = await camera(A, 'elsewhere', '/tmp/none.mp4', A.other.id);
    assert.equal(unplaced.status, null, 'a camera of a site without workers is not placed');
    await call(S1, 'DELETE', `/v1/cameras/${unplaced.id}`, { token: A.token });

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
    // A source with credentials reaches the worker that holds the lease, and nothing else keeps it.
    const secret = (await call(S1, 'POST', '/v1/cameras', { token: A.token, body: { site_id: A.site.id, name: 'vault', kind: 'rtsp', url: 'rtsp://u:topsecret@10.0.0.9/s' } })).json;
    const got = await until(async () => {
      const cmds = [...(await w1.heartbeat()).json.commands, ...(await w2.heartbeat()).json.commands];
      return cmds.find((k) => k.type === 'assign_camera' && k.params.camera_id === secret.id);
    }, 5000, 'the assignment of the camera with credentials');
    assert.equal(got.params.camera.url, 'rtsp://u:topsecret@10.0.0.9/s');
    for (const w of [w1, w2])
      assert.doesNotMatch((await call(S1, 'GET', `/v1/workers/${w.id}/commands`, { token: A.token })).text, /topsecret/);
    assert.doesNotMatch(S1.sql('SELECT params FROM worker_commands'), /topsecret/, 'not in the database either');
    await call(S1, 'DELETE', `/v1/cameras/${secret.id}`, { token: A.token });
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

  test('nothing acknowledged is left hanging: the worker is asked again when its completion does not come, a new process gets at once what the old one had, and a command that outlives its attempts fails with a reason', async () => {
    const w = new FakeWorker(S1, A.key);
    await w.register();
    const send = async (body) => (await call(S1, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body })).json;
    const get = async (id) => (await call(S1, 'GET', `/v1/commands/${id}`, { token: A.token })).json;
    const a = await send({ type: 'status_report' });
    assert.deepEqual((await w.heartbeat()).json.commands.map((k) => k.id), [a.id]);
    assert.equal((await w.update(a.id, 'acknowledged')).json.status, 'acknowledged');
    // Its completion is lost on the way: after the ack timeout the worker is asked again;
    // the command stays acknowledged and no attempt is spent.
    await until(async () => (await w.heartbeat()).json.commands.some((k) => k.id === a.id), 5000, 'asked again');
    assert.equal((await get(a.id)).status, 'acknowledged');
    assert.equal((await get(a.id)).attempts, 1);
    assert.equal((await w.update(a.id, 'acknowledged')).json.status, 'acknowledged', 'still at it');
    assert.equal((await w.update(a.id, 'completed', { result: {} })).json.status, 'completed', 'answered from its record');

    // The process dies with one command sent and one acknowledged; the next one registers.
    const b = await send({ type: 'status_report' });
    const c = await send({ type: 'refresh_staff' });
    assert.deepEqual((await w.heartbeat()).json.commands.map((k) => k.id).sort(), [b.id, c.id].sort());
    await w.update(c.id, 'acknowledged');
    const again = await w.register();
    assert.deepEqual(again.commands.map((k) => k.id).sort(), [b.id, c.id].sort(), 'both in the register answer');
    assert.deepEqual([(await get(b.id)).attempts, (await get(c.id)).attempts], [2, 2]);
    // And that one dies too (attempts: 2): neither goes out a third time; each fails with its reason.
    await w.update(c.id, 'acknowledged');
    assert.deepEqual((await w.register()).commands, []);
    assert.equal((await get(b.id)).status, 'failed');
    assert.equal((await get(b.id)).error, 'not acknowledged by the worker');
    assert.equal((await get(c.id)).status, 'failed');
    assert.equal((await get(c.id)).error, 'the worker stopped before finishing it');
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
      const w = new FakeWorker(s, A.key, { interval: 60000 }); // stays online across the restart
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

describe('command history', () => {
  test('the fleet-history job deletes commands finished more than fleet-history-days ago, and nothing else', async () => {
    const s = await new Server({ args: ['--test-clock', '1', '--fleet-sweep-ms', '100', '--fleet-history-days', '30'] }).start();
    S1 = s;
    try {
      const A = await world(s, 'fh');
      const w = new FakeWorker(s, A.key);
      await w.register();
      const send = async (body) => (await call(s, 'POST', `/v1/workers/${w.id}/commands`, { token: A.token, body })).json;
      const old = await send({ type: 'status_report' });
      assert.equal((await call(s, 'POST', `/v1/commands/${old.id}/cancel`, { token: A.token })).status, 200);
      const open = await send({ type: 'refresh_staff', expires_in_s: 604800 });
      const advanced = await call(s, 'POST', '/v1/admin/clock', { token: A.sys, body: { advance_ms: 31 * 86400000 } });
      assert.equal(advanced.status, 200, advanced.text);
      // Tokens issued before the jump have expired: sign in again.
      A.token = (await login(s, 'fh-owner', 'owner-password')).access_token;
      A.sys = (await login(s, 'admin', s.adminPassword)).access_token;
      const recent = await send({ type: 'status_report' });
      assert.equal((await call(s, 'POST', `/v1/commands/${recent.id}/cancel`, { token: A.token })).status, 200);
      const run = await call(s, 'POST', '/v1/jobs/fleet-history/run', { token: A.sys });
      assert.equal(run.status, 200, run.text);
      assert.equal(run.json.counts.commands_deleted, 1, JSON.stringify(run.json));
      assert.equal((await call(s, 'GET', `/v1/commands/${old.id}`, { token: A.token })).status, 404, 'finished 31 days ago: gone');
      assert.equal((await call(s, 'GET', `/v1/commands/${recent.id}`, { token: A.token })).status, 200, 'finished now: kept');
      const still = (await call(s, 'GET', `/v1/commands/${open.id}`, { token: A.token })).json;
      assert.equal(still.status, 'expired', 'it expired after the jump: finished now, kept');
      const again = await call(s, 'POST', '/v1/jobs/fleet-history/run', { token: A.sys });
      assert.equal(again.json.counts.commands_deleted ?? 0, 0, 'safe to run again');
    } finally { await s.stop(); s.cleanup(); }
  });
});

// --- two real workers ---------------------------------------------------------------------------------

describe('two real workers on file cameras', () => {
  let s, A, dir, video, cams = [], w1, w2;
  const workerRow = async (uuid) => (await call(s, 'GET', '/v1/workers', { token: A.token })).json.items.find((w) => w.uuid === uuid);
  const holder = async (id) => (await call(s, 'GET', `/v1/cameras/${id}`, { token: A.token })).json.status?.worker_id ?? null;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'footfall-fleet-'));
    video = join(dir, 'loop.mp4');
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10',
      '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
    s = await new Server().start(['--fleet-sweep-ms', '200', '--fleet-ack-timeout-ms', '3000']);
    S1 = s;
    A = await world(s, 'real');
    for (const n of ['door', 'till', 'aisle', 'exit']) cams.push(await camera(A, n, video));
    w1 = await new RealWorker(dir, 'w1', s, A.key).start();
    w2 = await new RealWorker(dir, 'w2', s, A.key, ['--channel', '0']).start(); // heartbeat fallback only
  });
  after(async () => {
    for (const w of [w1, w2]) if (w) await w.kill();
    if (s) { await s.stop(); s.cleanup(); }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const settled = async (what) => {
    try {
      return await until(async () => {
        const [a, b] = [await w1.running(), await w2.running()];
        return a.length === 2 && b.length === 2 && [...a, ...b].sort((x, y) => x - y).join() === cams.map((c) => c.id).join();
      }, 20000, what);
    } catch (e) { throw new Error(`${e.message}\nw1: ${w1.log.slice(-1500)}\nw2: ${w2.log.slice(-1500)}`); }
  };

  test('the cameras are shared two and two, each running where its lease says', async () => {
    await settled('two cameras each');
    for (const w of [w1, w2]) {
      const row = await until(async () => { const x = await workerRow(w.uuid); return x.status === 'processing' && x; }, 5000, 'processing');
      for (const id of await w.running()) assert.equal(await holder(id), row.id);
    }
    const st = await w1.status();
    assert.equal(st.fleet.registered, true);
    assert.equal(st.fleet.channel, 'connected');
    assert.equal((await w2.status()).fleet.channel, 'off');
    // The figures of the next heartbeat (w1 may have run all four before w2 came).
    const detail = await until(async () => {
      const d = (await call(s, 'GET', `/v1/workers/${(await workerRow(w1.uuid)).id}`, { token: A.token })).json;
      return d.cameras.length === 2 && d;
    }, 5000, 'per-camera figures stored');
    assert.match(detail.endpoint_url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok('frames_in' in detail.cameras[0]);
  });

  test('every command type end to end, over the channel (w1) and over the heartbeat (w2)', async () => {
    for (const w of [w1, w2]) {
      const id = (await workerRow(w.uuid)).id;
      const [cam] = await w.running();
      const run = async (type, params = {}) => {
        const sent = await call(s, 'POST', `/v1/workers/${id}/commands`, { token: A.token, body: { type, params } });
        assert.equal(sent.status, 202, sent.text);
        return until(async () => {
          const c = (await call(s, 'GET', `/v1/commands/${sent.json.id}`, { token: A.token })).json;
          return ['completed', 'failed'].includes(c.status) && c;
        }, 15000, `${type} on ${w.name}`);
      };
      const report = await run('status_report');
      assert.equal(report.status, 'completed', JSON.stringify(report));
      assert.equal(report.result.worker_id, w.uuid);
      assert.ok(report.acknowledged_at_ms);
      const staff = await run('refresh_staff');
      assert.equal(staff.status, 'completed', JSON.stringify(staff));
      const stop = await run('stop_processing', { camera_id: cam });
      assert.deepEqual(stop.result, { camera_id: cam, processing: false });
      assert.equal((await w.status()).cameras.find((c) => c.id === cam).processing, false);
      const startP = await run('start_processing', { camera_id: cam });
      assert.equal(startP.result.processing, true);
      const bad = await run('stop_processing', { camera_id: 987654 });
      assert.equal(bad.status, 'failed');
      assert.match(bad.error, /not running/);
      const live = await run('start_streaming', { camera_id: cam, fps: 5 });
      if (w === w1) {
        assert.equal(live.status, 'completed', JSON.stringify(live));
        await new Promise((r) => setTimeout(r, 1200));
        const end = await run('stop_streaming', { camera_id: cam });
        assert.equal(end.status, 'completed');
        assert.ok(end.result.frames >= 1, JSON.stringify(end.result));
        const frames = Number((await call(s, 'GET', '/metrics')).text.match(/^footfall_fleet_channel_frames_in_total (\d+)/m)[1]);
        assert.ok(frames >= end.result.frames, 'the server received the frames');
      } else {
        assert.equal(live.status, 'failed', 'no channel: no pushed frames');
        assert.match(live.error, /channel/);
        assert.equal((await run('stop_streaming', { camera_id: cam })).status, 'failed');
      }
    }
    // assign_camera / release_camera: a lease moved by hand
    const [id1, id2] = [(await workerRow(w1.uuid)).id, (await workerRow(w2.uuid)).id];
    const [moving] = await w2.running();
    const put = await call(s, 'PUT', `/v1/cameras/${moving}/lease`, { token: A.token, body: { worker_id: id1 } });
    assert.equal(put.status, 200, put.text);
    await until(async () => (await w1.running()).includes(moving) && !(await w2.running()).includes(moving), 15000, 'the manual move');
    const kinds = async (id) => (await call(s, 'GET', `/v1/workers/${id}/commands?status=completed`, { token: A.token })).json.items.map((c) => c.type);
    await until(async () => (await kinds(id1)).includes('assign_camera') && (await kinds(id2)).includes('release_camera'), 10000, 'the lease commands to complete');
    const back = await call(s, 'DELETE', `/v1/cameras/${moving}/lease`, { token: A.token });
    assert.equal(back.status, 200);
    await settled('two each again after the release');
  });

  test('restart and shutdown commands; a repeated command id is not run twice', async () => {
    const id2 = (await workerRow(w2.uuid)).id;
    const before = w2.log.length;
    const r = await call(s, 'POST', `/v1/workers/${id2}/commands`, { token: A.token, body: { type: 'restart' } });
    await until(async () => (await call(s, 'GET', `/v1/commands/${r.json.id}`, { token: A.token })).json.status === 'completed', 15000, 'restart completed');
    await until(() => w2.log.slice(before).match(/worker_id=/), 30000, 'w2 to start again');
    assert.equal(w2.proc.exitCode, null, 'the same process, executed again');
    const done = JSON.parse(readFileSync(join(w2.state, 'commands.json'), 'utf8')).done;
    assert.ok(done.some((d) => d.id === r.json.id));
    await settled('leases after the restart');
    assert.equal((w2.log.match(/command \d+: restart/g) || []).length, 1, 'run once, not again after the restart');
    // The server sends the same command again (as if its completion was lost): answered from the record.
    s.sql(`UPDATE worker_commands SET status = 'pending' WHERE id = ${r.json.id}`);
    await until(async () => (await call(s, 'GET', `/v1/commands/${r.json.id}`, { token: A.token })).json.status === 'completed', 15000, 'answered again');
    await until(() => /was done already: answering again/.test(w2.log.slice(before)), 5000, 'the repeat to be noticed');
    assert.equal(w2.proc.exitCode, null, 'and not restarted again');
  });

  test('kill one worker: offline within three intervals, its cameras move; it comes back and leases settle', async () => {
    const id1 = (await workerRow(w1.uuid)).id;
    const mine = await w1.running();
    const t0 = Date.now();
    await w1.kill('SIGKILL');
    await until(async () => (await workerRow(w1.uuid)).status === 'offline', 3 * HB + 3000, 'w1 offline');
    assert.ok(Date.now() - t0 < 3 * HB + 3000);
    await until(async () => (await w2.running()).length === 4, 20000, 'w2 to take all four cameras');
    for (const c of mine) assert.notEqual(await holder(c), id1);
    await w1.start();
    await settled('leases to settle after w1 came back');
    assert.equal((await workerRow(w1.uuid)).id, id1, 'the same worker (its id in the state folder)');
  });

  test('the server forgets a worker: it registers again by itself', async () => {
    const id1 = (await workerRow(w1.uuid)).id;
    assert.equal((await call(s, 'DELETE', `/v1/workers/${id1}`, { token: A.token })).status, 204);
    const row = await until(async () => workerRow(w1.uuid), 10000, 'w1 to register again');
    assert.notEqual(row.id, id1);
    await settled('leases after the re-registration');
    await until(async () => (await w1.status()).fleet.channel === 'connected', 10000, 'the channel again');
  });

  test('server restart: the workers carry on; a command queued while it was down is delivered', async () => {
    await s.stop();
    await new Promise((r) => setTimeout(r, 3 * HB));
    await s.start(['--port', String(s.port), '--fleet-sweep-ms', '200', '--fleet-ack-timeout-ms', '3000']);
    const id1 = (await workerRow(w1.uuid)).id;
    const r = await call(s, 'POST', `/v1/workers/${id1}/commands`, { token: A.token, body: { type: 'status_report' } });
    await until(async () => (await call(s, 'GET', `/v1/commands/${r.json.id}`, { token: A.token })).json.status === 'completed', 20000, 'the command after the restart');
    await settled('leases after the server restart');
    await until(async () => (await workerRow(w1.uuid)).status === 'processing' && (await workerRow(w2.uuid)).status === 'processing', 10000, 'both online');
  });

  test('shutdown: the worker says offline and its cameras move at once', async () => {
    const id2 = (await workerRow(w2.uuid)).id;
    const r = await call(s, 'POST', `/v1/workers/${id2}/commands`, { token: A.token, body: { type: 'shutdown' } });
    assert.equal(await w2.exited, 0, w2.log.slice(-2000));
    assert.equal((await call(s, 'GET', `/v1/commands/${r.json.id}`, { token: A.token })).json.status, 'completed');
    assert.equal((await workerRow(w2.uuid)).status, 'offline', 'said offline on the way out');
    await until(async () => (await w1.running()).length === 4, 15000, 'w1 to take the cameras');
    // In the ASan + UBSan build: no report from either worker (w2 ran its leak check on exit).
    for (const w of [w1, w2]) assert.doesNotMatch(w.all || '', /ERROR: \w+Sanitizer|runtime error:/, w.name);
  });
});
