// Background jobs: every run recorded and visible at GET /v1/jobs (tenant
// admins see only their share), a manual run is audited, the test clock is
// off unless asked for, expiry removes what is spent and keeps what a replay
// or a reuse check still needs, and two servers on one database elect one
// leader that alone runs scheduled jobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, call, login, seedWorld, until } from './lib/server.mjs';

const DAY = 86400000;
let server, w, A, B;

before(async () => {
  server = await new Server({ args: ['--test-clock', '1'] }).start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
});
after(async () => { if (server) { await server.stop(); server.cleanup(); } });

async function run(name, token = w.sys) {
  const r = await call(server, 'POST', `/v1/jobs/${name}/run`, { token });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function advance(ms) {
  const r = await call(server, 'POST', '/v1/admin/clock', { token: w.sys, body: { advance_ms: ms } });
  assert.equal(r.status, 200, r.text);
  // Access tokens expire with the clock: sign in again.
  w.sys = (await login(server, 'admin', server.adminPassword)).access_token;
  for (const t of w.tenants) t.admin.token = (await login(server, t.admin.username, t.admin.password)).access_token;
  return r.json;
}

test('scheduled jobs run at start and every run is recorded', async () => {
  const list = await until(async () => {
    const r = await call(server, 'GET', '/v1/jobs', { token: w.sys });
    return r.status === 200 && r.json.runs.filter((x) => x.trigger === 'schedule' && x.outcome !== 'running').length >= 2 && r.json;
  }, 15000, 'the first scheduled runs');
  const names = list.jobs.map((j) => j.name);
  for (const n of ['expiry', 'staff-lists']) assert.ok(names.includes(n), `${n} is registered`);
  assert.equal(list.leader.instance, list.instance, 'a lone server leads');
  for (const r of list.runs.filter((x) => x.outcome !== 'running')) {
    assert.equal(r.outcome, 'ok', JSON.stringify(r));
    assert.ok(r.finished_at_ms >= r.started_at_ms);
    assert.equal(r.instance, list.instance);
  }
  const job = list.jobs.find((j) => j.name === 'expiry');
  assert.ok(job.next_run_at_ms > Date.now(), 'the next run is scheduled');
});

test('a manual run: system admins only, audited, answered with the finished run', async () => {
  const r = await run('staff-lists');
  assert.equal(r.trigger, 'manual');
  assert.equal(r.outcome, 'ok');
  assert.ok(r.finished_at_ms);
  assert.ok(r.counts.lists_checked >= 2, JSON.stringify(r));
  const audit = await call(server, 'GET', '/v1/audit?limit=5', { token: w.sys });
  assert.ok(audit.json.items.some((a) => a.action === 'job.run' && a.summary.includes('staff-lists')));
  assert.equal((await call(server, 'POST', '/v1/jobs/staff-lists/run', { token: A.admin.token })).status, 403);
  const unknown = await call(server, 'POST', '/v1/jobs/no-such-job/run', { token: w.sys });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.code, 'not_found');
  const bad = await call(server, 'GET', '/v1/jobs?job=nope', { token: w.sys });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_field');
});

test('tenant admins see the tenant jobs with only their own counts', async () => {
  await run('staff-lists');
  const mine = await call(server, 'GET', '/v1/jobs?job=staff-lists', { token: A.admin.token });
  assert.equal(mine.status, 200);
  assert.ok(!mine.json.jobs.some((j) => j.name === 'expiry'), 'system housekeeping is not shown');
  assert.equal(mine.json.leader, undefined);
  const last = mine.json.runs[0];
  assert.deepEqual(Object.keys(last.counts), ['lists_checked']);
  assert.equal(last.counts.lists_checked, 1, 'only tenant A\'s share');
  assert.equal(last.tenants, undefined);
  const all = await call(server, 'GET', '/v1/jobs?job=expiry', { token: A.admin.token });
  assert.equal(all.json.runs.length, 0);
  const sys = await call(server, 'GET', '/v1/jobs?job=staff-lists&limit=1', { token: w.sys });
  assert.ok(sys.json.runs[0].tenants[String(A.tenant.id)]);
  assert.ok(sys.json.runs[0].tenants[String(B.tenant.id)]);
  assert.ok(sys.json.next_cursor);
});

test('staff lists: a change that bypassed the version is signalled to workers', async () => {
  const before = (await call(server, 'GET', '/v1/worker/staff', { token: A.key.secret })).json.version;
  await run('staff-lists');
  assert.equal((await call(server, 'GET', '/v1/worker/staff', { token: A.key.secret })).json.version, before, 'no change, no bump');
  // A staff member switched off behind the API's back (a restored backup, a manual fix).
  const staff = (await call(server, 'POST', '/v1/staff', { token: A.admin.token, body: { name: 'Barista' } })).json;
  assert.equal((await run('staff-lists')).tenants[String(A.tenant.id)].versions_bumped, undefined, 'the API bumped already');
  server.sql(`INSERT INTO staff_faces (tenant_id, staff_id, descriptor, model, quality, created_at) VALUES (${A.tenant.id}, ${staff.id}, X'${'00'.repeat(512)}', 'face-api-1.7.15', 0.9, 0)`
    .replace(`X'${'00'.repeat(512)}'`, server.databaseUrl.startsWith('sqlite:') ? `X'${'00'.repeat(512)}'` : `'\\x${'00'.repeat(512)}'`));
  const v1 = (await call(server, 'GET', '/v1/worker/staff', { token: A.key.secret })).json.version;
  const r = await run('staff-lists');
  assert.equal(r.tenants[String(A.tenant.id)].versions_bumped, 1, JSON.stringify(r));
  assert.equal((await call(server, 'GET', '/v1/worker/staff', { token: A.key.secret })).json.version, v1 + 1);
  assert.equal(r.tenants[String(B.tenant.id)].versions_bumped, undefined, 'tenant B is untouched');
});

test('expiry: spent tickets and dead sessions go; live sessions and their spent tokens stay', async () => {
  const ticket = await call(server, 'POST', '/v1/stream-tickets', { token: w.sys, body: { path: '/v1/audit/export.csv' } });
  assert.equal(ticket.status, 201, ticket.text);
  const session = await login(server, A.viewer.username, A.viewer.password);
  const count = (table) => Number(server.sql(`SELECT COUNT(*) FROM ${table}`).trim());
  assert.ok(count('stream_tickets') >= 1);
  await advance(10 * 60000);
  let r = await run('expiry');
  assert.ok(r.counts.stream_tickets >= 1, JSON.stringify(r));
  assert.equal(count('stream_tickets'), 0);
  assert.equal(r.counts.refresh_tokens, 0, 'every session is alive');
  // Rotate once: the spent token must stay so that presenting it again is reuse.
  const rotated = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
  assert.equal(rotated.status, 200, rotated.text);
  r = await run('expiry');
  assert.equal(r.counts.refresh_tokens, 0);
  const reuse = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
  assert.equal(reuse.status, 401);
  assert.match(reuse.json.error.message, /used already/);
  const before = count('refresh_tokens');
  await advance(32 * DAY);
  r = await run('expiry');
  assert.ok(r.counts.refresh_tokens >= 1, JSON.stringify(r));
  assert.ok(count('refresh_tokens') < before);
  // Sessions started after the jump (the sign-ins in advance()) are kept.
  assert.ok(count('refresh_tokens') >= 3);
});

test('the test clock: only with --test-clock, only forward, only system admins', async () => {
  const back = await call(server, 'POST', '/v1/admin/clock', { token: w.sys, body: { advance_ms: -1 } });
  assert.equal(back.status, 400);
  assert.equal(back.json.error.code, 'invalid_field');
  const extra = await call(server, 'POST', '/v1/admin/clock', { token: w.sys, body: { advance_ms: 1, at: 0 } });
  assert.equal(extra.status, 400);
  assert.equal((await call(server, 'POST', '/v1/admin/clock', { token: A.admin.token, body: { advance_ms: 1 } })).status, 403);
  const plain = await new Server().start();
  try {
    const sys = (await login(plain, 'admin', plain.adminPassword)).access_token;
    const r = await call(plain, 'POST', '/v1/admin/clock', { token: sys, body: { advance_ms: 1000 } });
    assert.equal(r.status, 404);
    assert.match(r.json.error.message, /test clock is off/);
  } finally { await plain.stop(); plain.cleanup(); }
  const open = new Server({ args: ['--test-clock', '1', '--listen', '0.0.0.0'] });
  await assert.rejects(open.start(), /test-clock is for tests/);
  open.cleanup();
});

test('two servers on one database: one leader runs the scheduled jobs, the other takes over', async () => {
  const first = await new Server().start();
  const second = new Server({ databaseUrl: first.databaseUrl });
  second.jwtSecret = first.jwtSecret;
  await second.start();
  try {
    const sys = (await login(first, 'admin', first.adminPassword)).access_token;
    const jobs = async (srv) => (await call(srv, 'GET', '/v1/jobs?limit=200', { token: sys })).json;
    const settled = await until(async () => {
      const j = await jobs(first);
      return j.leader && j.runs.filter((r) => r.trigger === 'schedule' && r.outcome === 'ok').length >= 2 && j;
    }, 20000, 'the first scheduled runs');
    const leader = settled.leader.instance;
    const other = (await jobs(second)).instance;
    assert.notEqual(leader, other);
    assert.ok([settled.instance, other].includes(leader));
    // Let both schedulers tick a few times: still one leader, runs only by it.
    await new Promise((r) => setTimeout(r, 4000));
    const later = await jobs(second);
    assert.equal(later.leader.instance, leader);
    const runners = new Set(later.runs.filter((r) => r.trigger === 'schedule').map((r) => r.instance));
    assert.deepEqual([...runners], [leader]);
    // Each job ran once per interval, not once per instance.
    for (const name of ['expiry', 'staff-lists'])
      assert.equal(later.runs.filter((r) => r.job === name && r.trigger === 'schedule').length, 1, name);
    // The leader stops (SIGTERM releases the lease): the other one leads.
    const [leading, follower] = settled.instance === leader ? [first, second] : [second, first];
    await leading.stop();
    const next = await until(async () => { const j = await jobs(follower); return j.leader?.instance === j.instance && j; }, 10000, 'the takeover');
    assert.equal(next.leader.instance, other === leader ? settled.instance : other);
  } finally {
    await first.stop(); await second.stop();
    first.cleanup(); second.cleanup();
  }
});
