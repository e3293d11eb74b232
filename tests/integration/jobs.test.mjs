// Background jobs: every run recorded and visible at GET /v1/jobs (tenant
// admins see only their share), a manual run is audited, the test clock is
// off unless asked for, expiry removes what is spent and keeps what a replay
// or a reuse check still needs, and two servers on one database elect one
// leader that alone runs scheduled jobs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STORE, Server, call, login, seedWorld, until } from './lib/server.mjs';
import { openEvents } from './lib/realtime.mjs';

const DAY = 86400000;
let server, w, A, B, JPEG, offset = 0;
const now = () => Date.now() + offset; // the server's clock

before(async () => {
  server = await new Server({ args: ['--test-clock', '1'] }).start();
  w = await seedWorld(server);
  [A, B] = w.tenants;
  JPEG = execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'color=c=gray:s=96x96', '-frames:v', '1', '-f', 'mjpeg', '-']);
  for (const t of [A, B])
    t.camera = (await call(server, 'POST', '/v1/cameras', { token: t.admin.token, body: { site_id: t.sites[0].id, name: 'Door', kind: 'rtsp', url: 'rtsp://10.0.0.1/door' } })).json;
});

/** A face event of a made-up person (a random descriptor: every call is someone new). */
function event(t, at = now() - 3600000, descriptor = Array.from({ length: 128 }, () => Math.random() - 0.5)) {
  return { id: randomUUID(), camera_id: t.camera.id, captured_at: new Date(at).toISOString(), descriptor,
    score: 0.9, quality: 0.8, box: { x: 10, y: 10, width: 90, height: 90 }, age: 30, gender: 'female',
    gender_probability: 0.9, staff_id: null, crop_jpeg: JPEG.toString('base64') };
}

async function post(t, events) {
  const r = await call(server, 'POST', '/v1/worker/events', { token: t.key.secret, body: { events } });
  assert.equal(r.status, 200, r.text);
  return r.json.results;
}

const count = (sql) => Number(server.sql(sql).trim());
after(async () => { if (server) { await server.stop(); server.cleanup(); } });

async function run(name, token = w.sys) {
  const r = await call(server, 'POST', `/v1/jobs/${name}/run`, { token });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

async function advance(ms) {
  const r = await call(server, 'POST', '/v1/admin/clock', { token: w.sys, body: { advance_ms: ms } });
  assert.equal(r.status, 200, r.text);
  offset = r.json.offset_ms;
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
  for (const n of ['retention', 'staff-lists', 'rollups', 'expiry']) assert.ok(names.includes(n), `${n} is registered`);
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
  const rows = (table) => count(`SELECT COUNT(*) FROM ${table}`);
  assert.ok(rows('stream_tickets') >= 1);
  await advance(10 * 60000);
  let r = await run('expiry');
  assert.ok(r.counts.stream_tickets >= 1, JSON.stringify(r));
  assert.equal(rows('stream_tickets'), 0);
  assert.equal(r.counts.refresh_tokens, 0, 'every session is alive');
  // Rotate once: the spent token must stay so that presenting it again is reuse.
  const rotated = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
  assert.equal(rotated.status, 200, rotated.text);
  r = await run('expiry');
  assert.equal(r.counts.refresh_tokens, 0);
  const reuse = await call(server, 'POST', '/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
  assert.equal(reuse.status, 401);
  assert.match(reuse.json.error.message, /used already/);
  const before = rows('refresh_tokens');
  await advance(32 * DAY);
  r = await run('expiry');
  assert.ok(r.counts.refresh_tokens >= 1, JSON.stringify(r));
  assert.ok(rows('refresh_tokens') < before);
  // Sessions started after the jump (the sign-ins in advance()) are kept.
  assert.ok(rows('refresh_tokens') >= 3);
});

test('retention: a month later the pictures are gone from the store and the database, descriptors stay', async () => {
  // Tenant B keeps pictures 60 days (its admin's setting); A the default 30.
  const bad = await call(server, 'PATCH', `/v1/tenants/${B.tenant.id}/settings`, { token: B.admin.token, body: { retention_days: 0 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_field');
  assert.equal((await call(server, 'GET', `/v1/tenants/${B.tenant.id}/settings`, { token: B.admin.token })).json.retention_days, 30, 'nothing changed');
  const set = await call(server, 'PATCH', `/v1/tenants/${B.tenant.id}/settings`, { token: B.admin.token, body: { retention_days: 60 } });
  assert.equal(set.status, 200, set.text);
  assert.equal(set.json.retention_days, 60);
  const mine = [event(A), event(A), event(A)], theirs = [event(B), event(B)];
  const ra = await post(A, mine), rb = await post(B, theirs);
  for (const r of [...ra, ...rb]) assert.equal(r.outcome, 'new_visit', JSON.stringify(r));
  const keysA = server.listPictures(`t/${A.tenant.id}/visits/`), keysB = server.listPictures(`t/${B.tenant.id}/visits/`);
  assert.equal(keysA.length, 3);
  assert.equal(keysB.length, 2);
  const visit = ra[0].visit_id;
  assert.equal((await call(server, 'GET', `/v1/visits/${visit}/picture`, { token: A.admin.token })).status, 200);
  const descriptorsA = count(`SELECT COUNT(*) FROM customer_faces WHERE tenant_id = ${A.tenant.id}`);
  assert.equal(descriptorsA, 3);

  // 29 days on: nothing is due yet.
  await advance(29 * DAY);
  let run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
  assert.equal(run.tenants[String(A.tenant.id)].pictures_expired, 0);
  assert.equal(server.listPictures(`t/${A.tenant.id}/visits/`).length, 3);

  // 31 days on: A's pictures go, B's (60 days) stay.
  await advance(2 * DAY);
  run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
  const a = run.tenants[String(A.tenant.id)], b = run.tenants[String(B.tenant.id)];
  assert.equal(a.pictures_expired, 3);
  assert.equal(a.pictures_deleted, 3);
  assert.equal(a.leftovers, undefined);
  assert.equal(b.pictures_expired, 0);
  assert.equal(b.pictures_kept, 2);
  assert.deepEqual(server.listPictures(`t/${A.tenant.id}/visits/`), []);
  assert.deepEqual(server.listPictures(`t/${B.tenant.id}/visits/`), keysB);
  assert.equal(count(`SELECT COUNT(*) FROM visits WHERE tenant_id = ${A.tenant.id} AND picture_key IS NOT NULL`), 0);
  assert.equal(count('SELECT COUNT(*) FROM picture_deletions'), 0, 'the queue is drained');
  const gone = await call(server, 'GET', `/v1/visits/${visit}/picture`, { token: A.admin.token });
  assert.equal(gone.status, 404);
  assert.equal((await call(server, 'GET', `/v1/visits/${visit}`, { token: A.admin.token })).json.has_picture, false);
  assert.equal(count(`SELECT COUNT(*) FROM customer_faces WHERE tenant_id = ${A.tenant.id}`), descriptorsA, 'descriptors are kept');
  assert.equal((await call(server, 'GET', '/v1/customers', { token: A.admin.token })).json.items.length, 3);
  const metrics = (await call(server, 'GET', '/metrics')).text;
  assert.match(metrics, /^footfall_retention_leftovers 0$/m);

  // Shortening B's retention to 20 days makes its pictures due at once.
  await call(server, 'PATCH', `/v1/tenants/${B.tenant.id}`, { token: w.sys, body: { retention_days: 20 } });
  run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.tenants[String(B.tenant.id)].pictures_deleted, 2, JSON.stringify(run));
  assert.deepEqual(server.listPictures(`t/${B.tenant.id}/visits/`), []);
  await call(server, 'PATCH', `/v1/tenants/${B.tenant.id}`, { token: w.sys, body: { retention_days: 30 } });
});

test('the verification pass catches a planted leftover, reports it as an error and removes it', async () => {
  const fresh = await post(A, [event(A)]);
  const kept = server.listPictures(`t/${A.tenant.id}/visits/`);
  assert.equal(kept.length, 1);
  // Planted behind the server's back: an old picture of A, one of tenant B,
  // one of a tenant that does not exist, and an orphan of today (no visit).
  const day = new Date(now() - 45 * DAY).toISOString().slice(0, 10).replaceAll('-', '/');
  const oldA = `t/${A.tenant.id}/visits/${day}/${randomUUID()}.jpg`;
  const oldB = `t/${B.tenant.id}/visits/${day}/${randomUUID()}.jpg`;
  const nobody = `t/999999/visits/${day}/${randomUUID()}.jpg`;
  const today = new Date(now()).toISOString().slice(0, 10).replaceAll('-', '/');
  const orphan = `t/${A.tenant.id}/visits/${today}/${randomUUID()}.jpg`;
  for (const k of [oldA, oldB, nobody, orphan]) server.putPicture(k, JPEG);
  const streams = [await openEvents(server, A.admin.token, 'topics=job'), await openEvents(server, B.admin.token, 'topics=job')];
  let run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  // Each tenant is told how the run ended for it, and only that.
  try {
    const [sa, sb] = await Promise.all(streams.map((c) => c.waitFor((m) => m.data.type === 'job.progress' && m.data.data.job_id === run.id, 'the job event')));
    assert.equal(sa.data.tenant_id, A.tenant.id);
    assert.equal(sa.data.data.kind, 'retention');
    assert.equal(sa.data.data.status, 'failed');
    assert.ok(sa.data.data.message.includes(oldA));
    assert.ok(sb.data.data.message.includes(oldB));
    assert.ok(!streams[0].raw.includes(oldB) && !streams[1].raw.includes(oldA));
  } finally { streams.forEach((c) => c.close()); }
  assert.equal(run.outcome, 'error', JSON.stringify(run));
  assert.equal(run.counts.leftovers, 3);
  assert.equal(run.counts.leftovers_removed, 3);
  for (const k of [oldA, oldB, nobody]) assert.ok(run.errors.some((e) => e.message.includes(k)), `${k} is reported`);
  assert.equal(run.tenants[String(A.tenant.id)].orphans_removed, 1, 'the orphan is cleaned up without an error');
  assert.ok(!run.errors.some((e) => e.message.includes(orphan)));
  assert.match(run.error, /leftover/);
  assert.deepEqual(server.listPictures('t/'), [...kept, ...server.listPictures(`t/${B.tenant.id}/`)].sort());
  assert.deepEqual(server.listPictures(`t/${A.tenant.id}/visits/`), kept, 'the real picture stays');
  assert.match((await call(server, 'GET', '/metrics')).text, /^footfall_retention_leftovers 3$/m);
  // Tenant A's admin sees A's share only: B's leftover and the tenant-less one are not A's.
  const view = await call(server, 'GET', '/v1/jobs?job=retention&limit=1', { token: A.admin.token });
  const mine = view.json.runs[0];
  assert.equal(mine.id, run.id);
  assert.equal(mine.errors.length, 1);
  assert.ok(mine.errors[0].message.includes(oldA));
  assert.ok(!JSON.stringify(mine).includes(oldB) && !JSON.stringify(mine).includes(nobody));
  const viewB = (await call(server, 'GET', '/v1/jobs?job=retention&limit=1', { token: B.admin.token })).json.runs[0];
  assert.ok(!JSON.stringify(viewB).includes(oldA));
  // The next run finds nothing left.
  run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
  assert.match((await call(server, 'GET', '/metrics')).text, /^footfall_retention_leftovers 0$/m);
  assert.equal((await call(server, 'GET', `/v1/visits/${fresh[0].visit_id}/picture`, { token: A.admin.token })).status, 200);
});

test('the verification also finds a visit whose picture vanished from the store, and clears it', async () => {
  const [seen] = await post(A, [event(A)]);
  const key = server.sql(`SELECT picture_key FROM visits WHERE id = ${seen.visit_id}`).trim();
  assert.ok(server.listPictures(`t/${A.tenant.id}/visits/`).includes(key));
  server.deletePicture(key);
  let run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'error', JSON.stringify(run));
  assert.equal(run.tenants[String(A.tenant.id)].missing_pictures, 1);
  assert.ok(run.errors.some((e) => e.message.includes(key) && e.message.includes('reference cleared')));
  assert.equal((await call(server, 'GET', `/v1/visits/${seen.visit_id}`, { token: A.admin.token })).json.has_picture, false);
  run = await call(server, 'POST', '/v1/jobs/retention/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
});

test('the event ledger: replays inside the horizon answer the same, entries past it are dropped', async () => {
  const e = event(A);
  const [first] = await post(A, [e]);
  assert.equal(first.outcome, 'new_visit');
  await advance(20 * DAY);
  let run = await call(server, 'POST', '/v1/jobs/expiry/run', { token: w.sys }).then((r) => r.json);
  const [again] = await post(A, [e]);
  assert.equal(again.outcome, 'duplicate');
  assert.equal(again.original_outcome, 'new_visit');
  assert.equal(again.visit_id, first.visit_id);
  const visits = count(`SELECT COUNT(*) FROM visits WHERE tenant_id = ${A.tenant.id}`);
  await advance(12 * DAY);
  run = await call(server, 'POST', '/v1/jobs/expiry/run', { token: w.sys }).then((r) => r.json);
  assert.ok(run.counts.ledger_entries >= 1, JSON.stringify(run));
  assert.equal(count(`SELECT COUNT(*) FROM face_events WHERE event_id = '${e.id}'`), 0);
  // The clock is now more than 90 days past the first runs: their records go too.
  assert.ok(run.counts.job_runs >= 1, JSON.stringify(run));
  assert.equal(count(`SELECT COUNT(*) FROM job_runs WHERE finished_at < ${now() - 90 * DAY}`), 0);
  // Past the horizon the same event is too old to be taken again: nothing counts twice.
  const [late] = await post(A, [e]);
  assert.equal(late.outcome, 'rejected');
  assert.match(late.reason, /invalid_time/);
  assert.equal(count(`SELECT COUNT(*) FROM visits WHERE tenant_id = ${A.tenant.id}`), visits);
});

test('rollups: a rollup that drifted from the visits is reported and repaired', async () => {
  const [seen] = await post(A, [event(A)]);
  assert.equal(seen.outcome, 'new_visit');
  let run = await call(server, 'POST', '/v1/jobs/rollups/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
  assert.ok(run.tenants[String(A.tenant.id)].site_days_checked >= 1);
  server.sql(`UPDATE report_hours SET visits = visits + 5 WHERE tenant_id = ${A.tenant.id}`);
  run = await call(server, 'POST', '/v1/jobs/rollups/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'error', JSON.stringify(run));
  assert.ok(run.tenants[String(A.tenant.id)].site_days_repaired >= 1);
  assert.match(run.errors[0].message, /rollups differed/);
  assert.equal(run.errors[0].tenant_id, A.tenant.id);
  assert.ok(!run.tenants[String(B.tenant.id)].site_days_repaired);
  run = await call(server, 'POST', '/v1/jobs/rollups/run', { token: w.sys }).then((r) => r.json);
  assert.equal(run.outcome, 'ok', JSON.stringify(run));
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

test('SIGTERM during a run: it stops at a safe point, is recorded interrupted, and the server exits cleanly', { skip: STORE === 's3' && 'planting 10 000 objects through S3 is too slow for this test' }, async () => {
  const srv = await new Server().start();
  try {
    const token = (await login(srv, 'admin', srv.adminPassword)).access_token;
    const tenant = (await call(srv, 'POST', '/v1/tenants', { token, body: { name: 'Busy' } })).json;
    // Enough objects for the verification walk to take a while.
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    const folder = join(srv.dir, 'pictures', 't', String(tenant.id), 'visits', day);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 10000; i++) writeFileSync(join(folder, `${randomUUID()}.jpg`), 'x');
    await until(async () => !(await call(srv, 'GET', '/v1/jobs', { token })).json.jobs.find((j) => j.name === 'retention').running, 10000, 'the start-up run');
    const pending = call(srv, 'POST', '/v1/jobs/retention/run', { token });
    const running = "SELECT COUNT(*) FROM job_runs WHERE job = 'retention' AND trigger = 'manual' AND outcome = 'running'";
    await until(() => srv.sql(running).trim() === '1', 10000, 'the manual run to start');
    srv.proc.kill('SIGTERM');
    const answer = await pending;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.outcome, 'interrupted');
    assert.ok((answer.json.counts.objects_checked ?? 0) < 10000, JSON.stringify(answer.json.counts));
    const { code } = await srv.stop();
    assert.equal(code, 0);
    assert.equal(srv.sql("SELECT outcome FROM job_runs WHERE job = 'retention' AND trigger = 'manual'").trim(), 'interrupted');
    assert.equal(srv.sql("SELECT COUNT(*) FROM job_state WHERE running_by IS NOT NULL").trim(), '0', 'no claim is left behind');
    assert.equal(srv.sql('SELECT COUNT(*) FROM scheduler_lease').trim(), '0', 'the lease is released');
  } finally { await srv.stop(); srv.cleanup(); }
});

test('two servers on one database: one leader runs the scheduled jobs, the other takes over', async () => {
  const first = await new Server().start();
  const second = new Server({ databaseUrl: first.databaseUrl, bucket: first.bucket });
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
