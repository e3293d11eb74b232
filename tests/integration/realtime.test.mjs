// Realtime events over Server-Sent Events and the WebSocket: visits appear after ingestion
// (a replay publishes nothing), resume with Last-Event-ID from the bounded history
// (and a reset when the id is too old), keep-alives, tenant and site
// isolation, single-use tickets, a slow client cut off without affecting
// another, and a clean shutdown with streams open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { DB, Server, call, login, seedWorld, until } from './lib/server.mjs';
import { SseClient, faceEvent, ingest, metric, openEvents, person, ticket } from './lib/realtime.mjs';
import { WsClient } from './lib/ws.mjs';

const HISTORY = 300;
const QUEUE = 256; // a burst of one 100-event batch must fit
let server, w, A, B, camA0, camA1, camB0, keyA, keyB;

before(async () => {
  server = await new Server({ args: ['--realtime-history', String(HISTORY), '--realtime-client-queue', String(QUEUE), '--sse-keepalive-s', '1'] }).start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
  const cam = async (t, site, name) => {
    const r = await call(server, 'POST', '/v1/cameras', { token: t.admin.token, body: { site_id: site.id, name, kind: 'rtsp', url: 'rtsp://10.0.0.9/s' } });
    assert.equal(r.status, 201, r.text);
    return r.json.id;
  };
  camA0 = await cam(A, A.sites[0], 'A north door');
  camA1 = await cam(A, A.sites[1], 'A south door');
  camB0 = await cam(B, B.sites[0], 'B north door');
  // A tenant-wide key of A (serves both sites) and B's site key.
  keyA = (await call(server, 'POST', '/v1/api-keys', { token: A.admin.token, body: { name: 'tenant pc' } })).json.secret;
  keyB = B.key.secret;
});
after(async () => { await server.stop(); server.cleanup(); });

test('a visit appears on the stream after its event is ingested, with the retry hint', async () => {
  const c = await openEvents(server, A.viewer.token);
  assert.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
  assert.equal(c.headers['cache-control'], 'no-store');
  assert.equal(c.retry, 3000);
  const [r] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  assert.equal(r.outcome, 'new_visit');
  const m = await c.waitFor((x) => x.data.type === 'visit.new' && x.data.data.visit_id === r.visit_id, 'the visit');
  assert.equal(m.id, String(m.data.id));
  assert.equal(m.data.tenant_id, A.tenant.id);
  assert.equal(m.data.site_id, A.sites[0].id);
  assert.deepEqual(Object.keys(m.data.data).sort(), ['camera_id', 'customer_id', 'new_customer', 'seen_at', 'site_id', 'visit_id']);
  assert.equal(m.data.data.customer_id, r.customer_id);
  assert.equal(m.data.data.camera_id, camA0);
  assert.equal(m.data.data.new_customer, true);

  // The same person again: the visit is extended; a replay publishes nothing.
  const again = faceEvent(server, camA0, undefined);
  const first = await ingest(server, keyA, [again]);
  const [dup] = await ingest(server, keyA, [again]);
  assert.equal(dup.outcome, 'duplicate');
  await c.waitFor((x) => x.data.data?.visit_id === first[0].visit_id, 'the second visit');
  const same = { ...faceEvent(server, camA0, undefined), descriptor: again.descriptor };
  const [ext] = await ingest(server, keyA, [same]);
  assert.equal(ext.outcome, 'visit_extended');
  const e = await c.waitFor((x) => x.data.type === 'visit.extended', 'the extended visit');
  assert.equal(e.data.data.visit_id, first[0].visit_id);
  assert.equal(e.data.data.new_customer, false);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.of().filter((x) => x.data.data.visit_id === first[0].visit_id).length, 2, 'new + extended, the duplicate publishes nothing');
  const ids = c.of().map((x) => BigInt(x.id));
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], 'ids grow');
  c.close();
});

test('keep-alive comments arrive while the stream is idle', async () => {
  const c = await openEvents(server, A.admin.token);
  await until(() => c.comments.includes('keep-alive'), 5000, 'a keep-alive comment');
  c.close();
});

test('Last-Event-ID resumes after the given event; an id older than the history resets', async () => {
  const live = await openEvents(server, A.admin.token);
  const results = await ingest(server, keyA, [0, 1, 2].map(() => faceEvent(server, camA0)));
  await until(() => live.of('visit.new').length >= 3, 10000, 'three visits');
  const [m1, m2, m3] = live.of('visit.new');
  assert.deepEqual([m1, m2, m3].map((m) => m.data.data.visit_id), results.map((r) => r.visit_id));

  // As EventSource reconnects: the header.
  const resumed = await openEvents(server, A.admin.token, '', { 'Last-Event-ID': m1.id });
  await until(() => resumed.of('visit.new').length >= 2, 5000, 'the missed events');
  assert.deepEqual(resumed.of().slice(0, 2).map((m) => m.id), [m2.id, m3.id]);
  // The query parameter works too (a fresh EventSource cannot set headers).
  const byQuery = await openEvents(server, A.admin.token, `last_event_id=${m2.id}`);
  await until(() => byQuery.of('visit.new').length >= 1, 5000, 'the missed event');
  assert.deepEqual(byQuery.of().map((m) => m.id), [m3.id]);
  // Live events follow the replayed ones.
  const [next] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  await resumed.waitFor((m) => m.data.data?.visit_id === next.visit_id, 'the live event');

  // Nonsense, ids this installation never gave and (SQLite: ids start at
  // the server's start time) ids from before this run: reset.
  for (const stale of ['abc', '-5', '99999999999999999999', '999999999999999999', ...(DB === 'sqlite' ? ['1'] : [])]) {
    const r = await openEvents(server, A.admin.token, '', { 'Last-Event-ID': stale });
    const first = await r.waitFor(() => true, 'a message', 3000);
    assert.equal(first.data.type, 'stream.reset', `Last-Event-ID ${stale}`);
    assert.equal(first.id, undefined);
    r.close();
  }
  for (const c of [live, resumed, byQuery]) c.close();
});

test('tenant and site isolation: nobody sees another tenant or another site', async () => {
  const streams = {
    aAdmin: await openEvents(server, A.admin.token),
    aManager: await openEvents(server, A.manager.token), // site 0 of A
    aSiteViewer: await openEvents(server, A.siteViewer.token), // site 1 of A
    aViewer: await openEvents(server, A.viewer.token), // tenant-level viewer of A
    bAdmin: await openEvents(server, B.admin.token),
    sysA: await openEvents(server, w.sys, `tenant_id=${A.tenant.id}`),
    aSite1Only: await openEvents(server, A.admin.token, `site_id=${A.sites[1].id}`),
    aJobsOnly: await openEvents(server, A.admin.token, 'topics=job,worker'),
  };
  const [a0] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  const [a1] = await ingest(server, keyA, [faceEvent(server, camA1)]);
  const [b0] = await ingest(server, keyB, [faceEvent(server, camB0)]);
  const sees = { aAdmin: [a0, a1], aManager: [a0], aSiteViewer: [a1], aViewer: [a0, a1], bAdmin: [b0], sysA: [a0, a1], aSite1Only: [a1], aJobsOnly: [] };
  // Wait until everyone has what they should see, then a little longer.
  for (const [who, want] of Object.entries(sees))
    for (const v of want) await streams[who].waitFor((m) => m.data.data?.visit_id === v.visit_id, `${who} sees visit ${v.visit_id}`);
  await new Promise((r) => setTimeout(r, 500));
  for (const [who, want] of Object.entries(sees)) {
    const got = streams[who].of().filter((m) => [a0, a1, b0].some((v) => v.visit_id === m.data.data?.visit_id && m.data.tenant_id === (v === b0 ? B : A).tenant.id));
    assert.deepEqual(got.map((m) => m.data.data.visit_id).sort(), want.map((v) => v.visit_id).sort(), who);
    for (const m of streams[who].of()) assert.equal(m.data.tenant_id, who === 'bAdmin' ? B.tenant.id : A.tenant.id, `${who} only gets its tenant`);
  }
  for (const c of Object.values(streams)) c.close();
});

test('bad requests: a site outside the caller, unknown topics, an unscoped system admin', async () => {
  const cases = [
    [A.manager.token, `site_id=${A.sites[1].id}`, 404],
    [A.admin.token, 'topics=visit,weather', 400],
    [A.admin.token, 'site_id=1,,2', 400],
    [B.admin.token, `tenant_id=${A.tenant.id}`, 404],
    [w.sys, '', 400],
    [w.sys, 'tenant_id=999999', 404],
  ];
  for (const [token, query, status] of cases) {
    const c = await openEvents(server, token, query);
    assert.equal(c.status, status, `${query}: ${c.body}`);
    assert.ok(JSON.parse(c.body).error.code);
  }
  // A worker key may not watch.
  const r = await call(server, 'GET', '/v1/events', { token: keyA });
  assert.equal(r.status, 403);
});

test('stream tickets are single-use and bound to their path; bearer tokens work too', async () => {
  const t = await ticket(server, A.admin.token, '/v1/events');
  const first = new SseClient(server, `/v1/events?ticket=${t}`);
  await first.opened;
  assert.equal(first.status, 200);
  const second = new SseClient(server, `/v1/events?ticket=${t}`);
  await second.opened;
  assert.equal(second.status, 401, 'a spent ticket');
  first.close();
  const other = await ticket(server, A.admin.token, '/v1/audit/export.csv');
  const wrong = new SseClient(server, `/v1/events?ticket=${other}`);
  await wrong.opened;
  assert.equal(wrong.status, 401, 'a ticket for another path');
  const none = new SseClient(server, '/v1/events');
  await none.opened;
  assert.equal(none.status, 401);
  const bearer = new SseClient(server, '/v1/events', { Authorization: `Bearer ${A.admin.token}` });
  await bearer.opened;
  assert.equal(bearer.status, 200);
  bearer.close();
});

/** A client that connects and does not read (a 4 KiB receive buffer) until told to. */
function slowClient(port, path) {
  const script = `
import json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', ${port}))
s.sendall(b'GET ${path} HTTP/1.1\\r\\nHost: x\\r\\nAccept: text/event-stream\\r\\n\\r\\n')
print('connected', flush=True)
sys.stdin.readline()
s.settimeout(15)
data, end = b'', 'eof'
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except socket.timeout:
    end = 'timeout'
except ConnectionResetError:
    end = 'reset'
text = data.decode('utf-8', 'replace')
print(json.dumps({'end': end, 'bytes': len(data), 'ids': [l[4:] for l in text.split('\\n') if l.startswith('id: ')], 'dropped': 'stream.dropped' in text}), flush=True)
`;
  const proc = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  return {
    connected: until(() => out.includes('connected'), 10000, 'the slow client to connect'),
    read: async () => { proc.stdin.write('go\n'); await until(() => out.includes('{'), 30000, 'the slow client to finish'); return JSON.parse(out.slice(out.indexOf('{'))); },
    kill: () => proc.kill('SIGKILL'),
  };
}

test('a client that stops reading is cut off; another client gets every event', async (t) => {
  const dropped0 = await metric(server, 'footfall_realtime_clients_dropped_total');
  // Streams closed by earlier tests are noticed at their next keep-alive.
  await until(async () => await metric(server, 'footfall_realtime_subscribers') === 0, 5000, 'no subscribers');
  const subs0 = 0;
  const slow = slowClient(server.port, `/v1/events?ticket=${await ticket(server, A.admin.token, '/v1/events')}`);
  const fast = await openEvents(server, A.admin.token);
  t.after(() => { slow.kill(); fast.close(); });
  await slow.connected;
  await until(async () => await metric(server, 'footfall_realtime_subscribers') === subs0 + 2, 5000, 'both subscribed');
  const visits = [];
  // Batches until the hub gives up on the slow client (its socket buffers
  // and queue hold a few hundred events at most).
  for (let batch = 0; batch < 30 && await metric(server, 'footfall_realtime_clients_dropped_total') === dropped0; batch++) {
    const results = await ingest(server, keyA, Array.from({ length: 100 }, () => faceEvent(server, camA0)));
    visits.push(...results.map((r) => r.visit_id));
  }
  assert.equal(await metric(server, 'footfall_realtime_clients_dropped_total'), dropped0 + 1, 'the slow client was dropped');
  // One more batch after the drop: the fast client still gets everything.
  visits.push(...(await ingest(server, keyA, Array.from({ length: 20 }, () => faceEvent(server, camA0)))).map((r) => r.visit_id));
  await until(() => fast.of('visit.new').length >= visits.length, 20000, 'the fast client to receive every visit');
  assert.deepEqual(fast.of('visit.new').map((m) => m.data.data.visit_id), visits);
  const got = await slow.read();
  assert.notEqual(got.end, 'timeout', 'the slow client\'s connection was closed');
  assert.ok(got.ids.length < visits.length, `the slow client got ${got.ids.length} of ${visits.length}`);
  await until(async () => await metric(server, 'footfall_realtime_subscribers') === subs0 + 1, 5000, 'the slow client unsubscribed');
});

test('after many events the oldest fall out of the history: resuming from one resets', async () => {
  const c = await openEvents(server, A.admin.token, '', { 'Last-Event-ID': '0' });
  const first = await c.waitFor(() => true, 'a message', 3000);
  assert.equal(first.data.type, 'stream.reset');
  c.close();
  // An id still in the history resumes.
  const live = await openEvents(server, A.admin.token);
  const [v] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  const m = await live.waitFor((x) => x.data.data?.visit_id === v.visit_id, 'the visit');
  const again = await openEvents(server, A.admin.token, '', { 'Last-Event-ID': String(BigInt(m.id) - 1n) });
  const got = await again.waitFor(() => true, 'a message', 3000);
  assert.equal(got.id, m.id);
  live.close();
  again.close();
});

test('fleet changes reach the stream: a worker registers, its status and its camera lease', async () => {
  const admin = await openEvents(server, A.admin.token, 'topics=worker,camera,command');
  const other = await openEvents(server, A.siteViewer.token); // site 1: the worker is on site 0
  const uuid = randomUUID();
  const r = await call(server, 'POST', '/v1/worker/register', { token: A.key.secret, body: { worker_id: uuid, heartbeat_interval_ms: 60000 } });
  assert.equal(r.status, 200, r.text);
  const ws = await admin.waitFor((m) => m.data.type === 'worker.status' && m.data.data.uuid === uuid, 'worker.status');
  assert.equal(ws.data.site_id, A.sites[0].id);
  assert.equal(typeof ws.data.data.worker_id, 'number');
  const cs = await admin.waitFor((m) => m.data.type === 'camera.status' && m.data.data.camera_id === camA0, 'camera.status');
  assert.equal(cs.data.data.worker_id, ws.data.data.worker_id);
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(other.of().filter((m) => m.data.type !== 'visit.new').length, 0, 'another site sees none of it');
  admin.close();
  other.close();
});

async function openWs(token, query = '') {
  const t = await ticket(server, token, '/v1/ws');
  return WsClient.open(`${server.url.replace('http', 'ws')}/v1/ws?ticket=${encodeURIComponent(t)}${query ? '&' + query : ''}`);
}

test('WebSocket: nothing before subscribe; subscribe and unsubscribe by topic and site; resume', async () => {
  const ws = await openWs(A.admin.token);
  const [before] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  assert.equal(await ws.next(() => true, 500), null, 'nothing before subscribing');

  ws.sendJson({ type: 'subscribe', topics: ['visit'] });
  assert.deepEqual(await ws.next((m) => m.type === 'subscribed'), { type: 'subscribed', topics: ['visit'], sites: [] });
  const [v0] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  const m0 = await ws.next((m) => m.type === 'visit.new');
  assert.equal(m0.data.visit_id, v0.visit_id);
  assert.equal(m0.tenant_id, A.tenant.id);

  // Narrow to site 1: site 0's visits stop.
  ws.sendJson({ type: 'subscribe', sites: [A.sites[1].id] });
  assert.deepEqual(await ws.next((m) => m.type === 'subscribed'), { type: 'subscribed', topics: ['visit', 'camera', 'worker', 'command', 'job'], sites: [A.sites[1].id] });
  const [s0] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  const [s1] = await ingest(server, keyA, [faceEvent(server, camA1)]);
  const m1 = await ws.next((m) => m.type === 'visit.new');
  assert.equal(m1.data.visit_id, s1.visit_id, `site 0's visit ${s0.visit_id} is not sent`);

  // Unsubscribe from visits: silence.
  ws.sendJson({ type: 'unsubscribe', topics: ['visit'] });
  assert.deepEqual(await ws.next((m) => m.type === 'subscribed'), { type: 'subscribed', topics: ['camera', 'worker', 'command', 'job'], sites: [A.sites[1].id] });
  await ingest(server, keyA, [faceEvent(server, camA1)]);
  assert.equal(await ws.next((m) => m.type === 'visit.new', 500), null, 'unsubscribed');

  // Resume: back on visits at every site, from the event before `before`.
  ws.sendJson({ type: 'unsubscribe', sites: [A.sites[1].id] });
  await ws.next((m) => m.type === 'subscribed');
  ws.sendJson({ type: 'subscribe', topics: ['visit'], last_event_id: String(m0.id - 1) });
  await ws.next((m) => m.type === 'subscribed');
  const replayed = [];
  for (let m; (m = await ws.next((x) => x.type === 'visit.new', 1000));) replayed.push(m.data.visit_id);
  assert.deepEqual(replayed.slice(0, 2), [v0.visit_id, s0.visit_id], 'the history after the given id, in order');
  assert.ok(!replayed.includes(before.visit_id));
  ws.sendJson({ type: 'subscribe', last_event_id: '999999999999999999' });
  await ws.next((m) => m.type === 'subscribed');
  assert.equal((await ws.next((m) => m.type === 'stream.reset')).data.reason, 'history_exhausted');
  await ws.close();
});

test('WebSocket: scope, bad messages, tickets', async () => {
  const manager = await openWs(A.manager.token); // bound to A's site 0
  manager.sendJson({ type: 'subscribe', sites: [A.sites[1].id] });
  assert.equal((await manager.next((m) => m.type === 'error')).error.code, 'not_found');
  manager.sendJson({ type: 'subscribe' });
  await manager.next((m) => m.type === 'subscribed');
  const b = await openWs(B.admin.token, 'topics=visit');
  for (const bad of ['not json', '{"type":"subscribe","topics":["weather"]}', '{"type":"subscribe","sites":"1"}', '{"type":"dance"}', '{"type":"subscribe","extra":1}'])
    manager.sendText(bad), assert.equal((await manager.next((m) => m.type === 'error')).error.code, 'invalid_field', bad);
  const [a0] = await ingest(server, keyA, [faceEvent(server, camA0)]);
  const [a1] = await ingest(server, keyA, [faceEvent(server, camA1)]);
  const [b0] = await ingest(server, keyB, [faceEvent(server, camB0)]);
  assert.equal((await manager.next((m) => m.type === 'visit.new')).data.visit_id, a0.visit_id);
  assert.equal((await b.next((m) => m.type === 'visit.new')).data.visit_id, b0.visit_id, 'topics= subscribes from the start');
  assert.equal(await manager.next((m) => m.type === 'visit.new', 500), null, `site 1's visit ${a1.visit_id} and B's are not sent`);
  assert.equal(await b.next((m) => m.type === 'visit.new', 300), null);
  await manager.close();
  await b.close();

  const t = await ticket(server, A.admin.token, '/v1/ws');
  const url = `${server.url.replace('http', 'ws')}/v1/ws?ticket=${t}`;
  (await WsClient.open(url)).close();
  await assert.rejects(WsClient.open(url), (e) => e.status === 401, 'a spent ticket');
  const sseTicket = await ticket(server, A.admin.token, '/v1/events');
  await assert.rejects(WsClient.open(`${server.url.replace('http', 'ws')}/v1/ws?ticket=${sseTicket}`), (e) => e.status === 401, 'a ticket of another path');
  const bearer = await WsClient.open(`${server.url.replace('http', 'ws')}/v1/ws`, { Authorization: `Bearer ${A.admin.token}` });
  await bearer.close();
});

test('SIGTERM ends open streams and the server exits 0', async () => {
  const s2 = await new Server().start();
  const world = await seedWorld(s2);
  const c = await openEvents(s2, world.tenants[0].admin.token);
  const started = Date.now();
  const { code } = await s2.stop();
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
  await until(() => c.ended, 5000, 'the stream to end');
  s2.cleanup();
});

test('two servers on one PostgreSQL: events, resume, the recognition index and a lost listener', { skip: DB !== 'postgres' && 'several servers need PostgreSQL (SQLite serves one)' }, async () => {
  const vault = randomBytes(32).toString('hex');
  const s1 = await new Server({ args: ['--vault-key', vault] }).start();
  // Instance 2 trusts a checked token for 30 s: only the notification makes
  // it see a deactivation sooner (see below).
  const s2 = new Server({ databaseUrl: s1.databaseUrl, bucket: s1.bucket, args: ['--vault-key', vault, '--auth-cache-ms', '30000'] });
  s2.jwtSecret = s1.jwtSecret;
  await s2.start();
  try {
    const world = await seedWorld(s1);
    const [T] = world.tenants;
    const cam = (await call(s1, 'POST', '/v1/cameras', { token: T.admin.token, body: { site_id: T.sites[0].id, name: 'door', kind: 'rtsp', url: 'rtsp://10.0.0.9/s' } })).json.id;
    const key = T.key.secret;
    const on1 = await openEvents(s1, T.admin.token);
    const on2 = await openEvents(s2, T.admin.token);

    // An event ingested by one appears on both streams, with the same id.
    const [v1] = await ingest(s1, key, [faceEvent(s1, cam)]);
    const [v2] = await ingest(s2, key, [faceEvent(s2, cam)]);
    for (const v of [v1, v2])
      for (const c of [on1, on2]) await c.waitFor((m) => m.data.data?.visit_id === v.visit_id, `visit ${v.visit_id}`);
    const seen = (c) => c.of('visit.new').map((m) => [m.id, m.data.data.visit_id]);
    assert.deepEqual(seen(on2), seen(on1), 'the same events, ids and order on both instances');

    // Resume on the other instance with an id from the first.
    const first = on1.of('visit.new')[0];
    const resumed = await openEvents(s2, T.admin.token, '', { 'Last-Event-ID': first.id });
    await resumed.waitFor((m) => m.data.data?.visit_id === v2.visit_id, 'the event after it');
    assert.equal(resumed.of()[0].data.data.visit_id, v2.visit_id);
    resumed.close();

    // A customer created on one is matched on the other.
    const face = person();
    const [c1] = await ingest(s1, key, [faceEvent(s1, cam, face, Date.now() - 3 * 86400000)]);
    assert.equal(c1.outcome, 'new_visit');
    await on2.waitFor((m) => m.data.data?.visit_id === c1.visit_id, 'the new customer on instance 2');
    const [c2] = await ingest(s2, key, [faceEvent(s2, cam, face, Date.now() - 1000)]);
    assert.equal(c2.customer_id, c1.customer_id, 'instance 2 recognises the customer made on instance 1');
    assert.equal(c2.outcome, 'new_visit', 'another day: a new visit of the same customer');
    // Erased on instance 2: instance 1 no longer knows the face.
    const erase = await call(s2, 'POST', `/v1/customers/${c1.customer_id}/erase`, { token: T.admin.token });
    assert.equal(erase.status, 200, erase.text);
    const marker = await ingest(s2, key, [faceEvent(s2, cam)]); // published after the index change
    await on1.waitFor((m) => m.data.data?.visit_id === marker[0].visit_id, 'the marker on instance 1');
    const [c3] = await ingest(s1, key, [faceEvent(s1, cam, face, Date.now() - 500)]);
    assert.notEqual(c3.customer_id, c1.customer_id, 'the erased customer is not matched on instance 1');

    // A tenant deactivated through instance 1 is refused by instance 2 as
    // soon as the change commits, though instance 2 had just checked the token.
    const U = world.tenants[1];
    assert.equal((await call(s2, 'GET', '/v1/me', { token: U.admin.token })).status, 200);
    const off = await call(s1, 'PATCH', `/v1/tenants/${U.tenant.id}`, { token: world.sys, body: { active: false } });
    assert.equal(off.status, 200, off.text);
    await until(async () => (await call(s2, 'GET', '/v1/me', { token: U.admin.token })).status === 401, 5000,
      'instance 2 to refuse the deactivated tenant');
    assert.equal((await call(s1, 'PATCH', `/v1/tenants/${U.tenant.id}`, { token: world.sys, body: { active: true } })).status, 200);
    assert.equal((await call(s2, 'GET', '/v1/me', { token: U.admin.token })).status, 200);

    // The listener's connection dies: it reconnects, clients are told to
    // reload, events flow again.
    s1.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'footfall-listener' AND datname = current_database()");
    await on1.waitFor((m) => m.data.type === 'stream.reset' && m.data.data.reason === 'missed_events', 'a reset on instance 1', 15000);
    await on2.waitFor((m) => m.data.type === 'stream.reset', 'a reset on instance 2', 15000);
    assert.ok(await metric(s1, 'footfall_realtime_listener_reconnects_total') >= 1);
    const [after] = await ingest(s1, key, [faceEvent(s1, cam)]);
    for (const c of [on1, on2]) await c.waitFor((m) => m.data.data?.visit_id === after.visit_id, 'an event after the reconnect');
    on1.close();
    on2.close();
  } finally {
    await s2.stop();
    await s1.stop();
    s2.cleanup();
    s1.cleanup();
  }
});
