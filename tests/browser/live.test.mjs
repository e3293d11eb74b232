// The live parts of the dashboard in Chromium against the real server: today's
// figures and the visit feed over Server-Sent Events (a visit sent through the
// worker protocol appears without a reload), worker and camera health, the
// workers page with a worker registered through POST /v1/worker/register
// (details, per-camera figures, commands sent, completed and cancelled,
// maintenance, forget), Vietnamese, and what a viewer may not do.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { MODELS_DIR, SHARED_DATA, Server, checkPrerequisites, clearFailedShots, faceEvent, launchChromium, openPage, person, sendEvents, shot, signIn, stepper, testCrop, until, utcDate, watchErrors } from './lib.mjs';

const T = 15000;
let srv, browser, page, errors, alice, key, crop;
const seed = {};
const worker = { uuid: randomUUID(), name: 'till-pc' };
const step = stepper(test, () => page);

before(async () => {
  checkPrerequisites();
  clearFailedShots();
  srv = new Server();
  seed.acme = srv.admin('create-tenant', '--name', 'Acme Retail').tenant_id;
  // A site in UTC, so "today" is the same local day for the browser (in UTC) and the site.
  seed.main = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Main Store', '--timezone', 'UTC').site_id;
  srv.admin('create-user', '--username', 'alice', '--password', 'alice-password-1', '--role', 'tenant_admin', '--tenant-id', String(seed.acme));
  srv.admin('create-user', '--username', 'vera', '--password', 'vera-password-1', '--role', 'viewer', '--tenant-id', String(seed.acme));
  await srv.start();
  alice = await srv.token('alice', 'alice-password-1');
  const cam = await srv.api('POST', '/v1/cameras', { token: alice, body: { site_id: seed.main, name: 'Front door', kind: 'file', url: '/videos/door.mp4' } });
  assert.equal(cam.status, 201, JSON.stringify(cam.body));
  seed.cam = cam.body.id;
  key = srv.admin('create-api-key', '--tenant-id', String(seed.acme), '--site-id', String(seed.main), '--name', 'store worker').secret;
  crop = testCrop(srv.dir);
  // One visit earlier today (a minute ago), so today's figures start above zero.
  await sendEvents(srv, key, [faceEvent({ camera: seed.cam, descriptor: person(1), at: Date.now() - 60000, crop })]);
  browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC', locale: 'en-GB' });
  page = await ctx.newPage();
  page.setDefaultTimeout(T);
  errors = watchErrors(page);
});

after(async () => {
  endpoint.server?.close();
  endpoint.server?.closeAllConnections();
  await browser?.close();
  await srv?.stop();
});

// The worker's local endpoint (docs/PROTOCOL.md), played by a small HTTP
// server: /cameras/{id}/mjpeg as multipart JPEG and /logs, behind the
// endpoint secret the worker sends with its heartbeats. The server proxies it.
const endpoint = { secret: `endpoint-secret-${process.pid}`, requests: [], logs: 'ts=2026-12-06T04:00:00Z level=info msg="camera 1 streaming" frames=1520\nts=2026-12-06T04:00:01Z level=warn msg="outbox retry" attempt=2\n' };
function startEndpoint(jpeg) {
  return new Promise((resolve) => {
    endpoint.server = createServer((req, res) => {
      endpoint.requests.push(req.url);
      if (req.headers.authorization !== `Bearer ${endpoint.secret}`) { res.writeHead(401); res.end(); return; }
      const u = new URL(req.url, 'http://x');
      if (u.pathname === '/logs') { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end(endpoint.logs); return; }
      if (/^\/cameras\/\d+\/mjpeg$/.test(u.pathname)) {
        res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=footfall' });
        const frame = () => res.write(Buffer.concat([Buffer.from(`--footfall\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`), jpeg, Buffer.from('\r\n')]));
        frame();
        const iv = setInterval(frame, 200);
        req.on('close', () => clearInterval(iv));
        return;
      }
      res.writeHead(404); res.end();
    });
    endpoint.server.listen(0, '127.0.0.1', () => { endpoint.url = `http://127.0.0.1:${endpoint.server.address().port}`; resolve(); });
  });
}

const statText = (p, id) => p.getByTestId(id).locator('.ant-statistic-content').innerText();
const today = async () => {
  const r = await srv.api('GET', `/v1/reports/summary?from=${utcDate(0)}&to=${utcDate(0)}`, { token: alice });
  assert.equal(r.status, 200);
  return r.body;
};
const hello = (extra = {}) => ({ worker_id: worker.uuid, status: 'processing', heartbeat_interval_ms: 30000, capabilities: { max_cameras: 4 }, ...extra });
const workerRow = () => page.locator('.ant-table-row', { hasText: worker.name });

step('the dashboard shows today\'s figures from the reports API and the feed goes live', async () => {
  await signIn(page, srv.url, 'alice', 'alice-password-1');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const s = await today();
  assert.equal(s.visits, 1);
  await until(async () => (await statText(page, 'stat-today-visits').catch(() => '')) === '1', T, "today's visits");
  assert.equal(await statText(page, 'stat-today-unique'), String(s.unique_visitors));
  assert.equal(await statText(page, 'stat-today-new'), String(s.new_visitors));
  assert.equal(await statText(page, 'stat-today-returning'), String(s.returning_visitors));
  assert.match(await page.getByTestId('today-note').innerText(), new RegExp(utcDate(0)));
  await page.locator('[data-testid="feed-state"][data-state="open"]').waitFor({ timeout: T });
  assert.match(await page.getByTestId('health').innerText(), /No workers have registered yet/);
});

step('a visit sent by a worker appears in the live feed and in today\'s figures without a reload', async () => {
  const url = page.url();
  const [r] = await sendEvents(srv, key, [faceEvent({ camera: seed.cam, descriptor: person(2), at: Date.now(), crop, gender: 'male' })]);
  const item = page.locator(`[data-testid="live-visit"][data-visit-id="${r.visit_id}"]`);
  await item.waitFor({ timeout: T });
  const text = await item.innerText();
  assert.match(text, /New/);
  assert.match(text, /Main Store/);
  assert.match(text, /Front door/);
  assert.match(text, new RegExp(`Customer #${r.customer_id}`));
  assert.match(text, /\(UTC\)/);
  await until(async () => (await statText(page, 'stat-today-visits')) === '2', T, "today's visits to become 2");
  assert.equal((await today()).visits, 2);
  // The same person again later today: a returning visit? No — same customer within the gap extends the visit.
  assert.equal(page.url(), url, 'no navigation happened');
  await shot(page, '30-dashboard-live');
});

step('the feed reconnects after a server restart with a new ticket and the last event id, and carries on', async () => {
  const streams = [];
  const onRequest = (r) => { if (r.url().includes('/v1/events')) streams.push(r.url()); };
  page.on('request', onRequest);
  const port = new URL(srv.url).port;
  srv.proc.kill('SIGTERM');
  const ended = await srv.exited;
  assert.equal(ended.code, 0);
  await page.locator('[data-testid="feed-state"][data-state="retrying"]').waitFor({ timeout: T });
  srv.out = '';
  await srv.start(['--port', port]);
  assert.equal(new URL(srv.url).port, port);
  await page.locator('[data-testid="feed-state"][data-state="open"]').waitFor({ timeout: 45000 });
  const [r] = await sendEvents(srv, key, [faceEvent({ camera: seed.cam, descriptor: person(7), at: Date.now(), crop })]);
  await page.locator(`[data-testid="live-visit"][data-visit-id="${r.visit_id}"]`).waitFor({ timeout: T });
  page.off('request', onRequest);
  const resumed = streams.map((u) => new URL(u)).find((u) => u.searchParams.get('last_event_id'));
  assert.ok(resumed, `a reconnect with last_event_id among ${streams.join(' ')}`);
  const tickets = streams.map((u) => new URL(u).searchParams.get('ticket'));
  assert.ok(tickets.every(Boolean));
  assert.equal(new Set(tickets).size, tickets.length, 'a new ticket for every connection');
  await until(async () => (await statText(page, 'stat-today-visits')) === '3', T, "today's visits to become 3");
});

step('a worker registered through the worker protocol shows in the health card and on the workers page', async () => {
  const reg = await srv.api('POST', '/v1/worker/register', { token: key, body: hello({ name: worker.name, version: 'footfall-worker/1' }) });
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  worker.id = reg.body.id;
  await page.getByTestId('health-worker').filter({ hasText: worker.name }).waitFor({ timeout: T });
  // The balancer leases the site's camera to it; the next heartbeat reports the camera's figures.
  const lease = await until(async () => {
    const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello() });
    return hb.body.leases?.find((l) => l.camera_id === seed.cam);
  }, T, 'the camera leased to the worker');
  const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello({
    leases: [{ camera_id: seed.cam, generation: lease.generation }],
    cameras: [{ id: seed.cam, state: 'streaming', reason: null, frames_in: 1520, processed: 300, skipped: 0, faces: 12, events: 2, staff_events: 0, errors: 0,
      last_frame_at: new Date().toISOString(), reconnects: 1, last_error: null, processing: true, local: false }],
  }) });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
  await page.getByRole('link', { name: 'Workers', exact: true }).first().click();
  await page.getByRole('heading', { name: 'Workers', exact: true }).waitFor();
  await workerRow().waitFor({ timeout: T });
  const w = (await srv.api('GET', `/v1/workers/${worker.id}`, { token: alice })).body;
  const rowText = await workerRow().innerText();
  assert.match(rowText, /Processing/);
  assert.equal(w.status, 'processing');
  assert.match(rowText, /Main Store/);
  await until(async () => (await workerRow().innerText()).includes('Front door'), T, 'the leased camera in the row');
  await shot(page, '31-workers');
});

step('worker details show the per-camera figures and the lease', async () => {
  await page.getByRole('button', { name: `Details of ${worker.name}` }).click();
  const drawer = page.getByTestId('worker-details');
  await drawer.getByText(worker.uuid).waitFor({ timeout: T });
  const figures = await drawer.getByTestId('worker-cameras').locator('.ant-table-row').innerText();
  for (const v of ['Front door', 'streaming', '1,520', '300', '12']) assert.ok(figures.includes(v), `${v} in ${figures}`);
  assert.match(await drawer.getByTestId('worker-leases').locator('.ant-table-row').innerText(), /Front door/);
  await shot(page, '32-worker-details');
});

step('commands: sent, delivered in a heartbeat, completed by the worker; another cancelled', async () => {
  const drawer = page.getByTestId('worker-details');
  await drawer.getByRole('button', { name: 'Send' }).click();
  const cmdRow = drawer.getByTestId('commands').locator('.ant-table-row', { hasText: 'Status report' });
  await cmdRow.waitFor({ timeout: T });
  const [cmd] = (await srv.api('GET', `/v1/workers/${worker.id}/commands`, { token: alice })).body.items;
  assert.equal(cmd.type, 'status_report');
  const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello() });
  assert.ok(hb.body.commands.some((c) => c.id === cmd.id), 'the command handed out in the heartbeat answer');
  const done = await srv.api('POST', `/v1/worker/commands/${cmd.id}`, { token: key, body: { worker_id: worker.uuid, status: 'completed', result: { uptime_s: 42 } } });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  // command.updated over SSE refreshes the history.
  await until(async () => (await cmdRow.innerText()).includes('Completed'), T, 'the command completed in the page');
  assert.match(await cmdRow.innerText(), /uptime_s/);

  await pick(drawer.getByRole('combobox', { name: 'Command' }), 'Refresh staff list');
  await drawer.getByRole('button', { name: 'Send' }).click();
  const second = drawer.getByTestId('commands').locator('.ant-table-row', { hasText: 'Refresh staff list' });
  await second.waitFor({ timeout: T });
  const id = (await srv.api('GET', `/v1/workers/${worker.id}/commands`, { token: alice })).body.items[0].id;
  await second.getByRole('button', { name: `Cancel command ${id}` }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Cancel command' }).click();
  await until(async () => (await second.innerText()).includes('Cancelled'), T, 'the command cancelled');
  assert.equal((await srv.api('GET', `/v1/commands/${id}`, { token: alice })).body.status, 'cancelled');
  await shot(page, '33-worker-commands');
  await page.keyboard.press('Escape');
});

async function pick(combobox, text) {
  await combobox.click();
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: text }).first().click();
}

step('maintenance on and off', async () => {
  const sw = page.getByRole('switch', { name: `Maintenance of ${worker.name}` });
  await sw.click();
  await until(async () => (await srv.api('GET', `/v1/workers/${worker.id}`, { token: alice })).body.maintenance === true, T, 'maintenance on');
  await until(async () => (await workerRow().innerText()).includes('Maintenance'), T, 'the maintenance status');
  await sw.click();
  await until(async () => (await srv.api('GET', `/v1/workers/${worker.id}`, { token: alice })).body.maintenance === false, T, 'maintenance off');
});

step('Vietnamese on the workers page and the dashboard', async () => {
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('heading', { name: 'Máy xử lý', exact: true }).waitFor({ timeout: T });
  assert.match(await workerRow().innerText(), /Đang xử lý|Trực tuyến|Rảnh/);
  await shot(page, '34-workers-vi');
  await openPage(page, 'Tổng quan');
  await page.getByText('Lượt ghé thăm trực tiếp').waitFor({ timeout: T });
  assert.match(await page.getByTestId('feed-state').innerText(), /Trực tiếp|Đang kết nối/);
  await shot(page, '35-dashboard-vi');
  await page.getByText('EN', { exact: true }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: T });
});

step('a viewer sees the fleet but none of the admin actions', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC', locale: 'en-GB' });
  const p = await ctx.newPage();
  const verrs = watchErrors(p);
  await signIn(p, srv.url, 'vera', 'vera-password-1');
  await p.getByTestId('health-worker').filter({ hasText: worker.name }).waitFor({ timeout: T });
  await openPage(p, 'Workers');
  const row = p.locator('.ant-table-row', { hasText: worker.name });
  await row.waitFor({ timeout: T });
  assert.equal(await row.getByRole('button', { name: `Forget ${worker.name}` }).count(), 0);
  assert.equal(await p.getByRole('switch', { name: `Maintenance of ${worker.name}` }).isDisabled(), true);
  await p.getByRole('button', { name: `Details of ${worker.name}` }).click();
  await p.getByTestId('worker-details').getByTestId('commands').locator('.ant-table-row').first().waitFor({ timeout: T });
  assert.equal(await p.getByTestId('worker-details').getByRole('button', { name: 'Send' }).count(), 0);
  assert.equal(await p.getByTestId('worker-details').getByRole('button', { name: /^Cancel command/ }).count(), 0);
  await p.keyboard.press('Escape');
  await p.locator('.ant-drawer-mask').waitFor({ state: 'detached', timeout: T }).catch(() => undefined);
  const menu = await p.getByRole('menu').innerText();
  for (const admin of ['Users', 'API keys', 'Audit log', 'Jobs']) assert.doesNotMatch(menu, new RegExp(admin));
  await openPage(p, 'Cameras');
  await p.getByTestId(`placement-${seed.cam}`).waitFor({ timeout: T });
  assert.equal(await p.getByRole('button', { name: 'Commands for Front door' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Placement of Front door' }).count(), 0);
  await shot(p, '36-workers-viewer');
  assert.deepEqual(verrs, []);
  await ctx.close();
});

step('live view: the grid streams the camera through the server, a fresh ticket per image; overlay; layouts; worker log lines', async () => {
  await startEndpoint(Buffer.from(crop, 'base64'));
  const lease = await until(async () => {
    const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello() });
    return hb.body.leases?.find((l) => l.camera_id === seed.cam);
  }, T, 'the camera leased');
  const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello({ endpoint_url: endpoint.url, endpoint_secret: endpoint.secret,
    leases: [{ camera_id: seed.cam, generation: lease.generation }], cameras: [{ id: seed.cam, state: 'streaming', frames_in: 10, processed: 5 }] }) });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
  const streams = [];
  const onRequest = (r) => { if (r.url().includes('/live.mjpeg')) streams.push(r.url()); };
  page.on('request', onRequest);
  await openPage(page, 'Live view');
  assert.equal(await page.getByTestId('live-grid').getAttribute('data-layout'), '4');
  const img = page.getByTestId('live-tile').filter({ hasText: 'Front door' }).locator('img[data-playing="1"]');
  await img.waitFor({ timeout: T });
  assert.equal(await img.evaluate((el) => el.naturalWidth), 200, 'the frames the worker endpoint serves');
  assert.ok(endpoint.requests.some((u) => u === `/cameras/${seed.cam}/mjpeg`), 'the server proxied the worker endpoint');
  assert.match(streams[0], new RegExp(`/v1/cameras/${seed.cam}/live\\.mjpeg\\?ticket=`));
  assert.doesNotMatch(streams[0], /Bearer|access_token/);
  await shot(page, '40-live-view');

  await page.getByRole('switch', { name: 'Face boxes' }).click();
  await until(() => streams.some((u) => u.includes('overlay=1')), T, 'the stream with the overlay');
  const tickets = streams.map((u) => new URL(u).searchParams.get('ticket'));
  assert.equal(new Set(tickets).size, tickets.length, 'a fresh ticket for every stream');
  await until(() => endpoint.requests.includes(`/cameras/${seed.cam}/mjpeg?overlay=1`), T, 'the overlay asked of the worker');
  await img.waitFor({ timeout: T });
  await page.getByText('1', { exact: true }).click();
  await until(async () => (await page.getByTestId('live-grid').getAttribute('data-layout')) === '1', T, 'the 1-camera layout');
  await page.getByText('16', { exact: true }).click();
  await until(async () => (await page.getByTestId('live-grid').getAttribute('data-layout')) === '16', T, 'the 16-camera layout');
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('heading', { name: 'Xem trực tiếp' }).waitFor({ timeout: T });
  await page.getByText('EN', { exact: true }).click();
  page.off('request', onRequest);

  await openPage(page, 'Workers');
  await page.getByRole('button', { name: `Details of ${worker.name}` }).click();
  await page.getByTestId('worker-details').getByRole('button', { name: 'Show recent log lines' }).click();
  const logs = page.getByTestId('worker-logs');
  await logs.waitFor({ timeout: T });
  assert.match(await logs.innerText(), /outbox retry/);
  assert.ok(endpoint.requests.includes('/logs'));
  // Following: a line the worker writes now shows without a click.
  await page.getByTestId('worker-logs-state').getByText('Live').waitFor({ timeout: T });
  endpoint.logs += 'ts=2026-12-06T04:00:02Z level=info msg="followed line" n=3\n';
  await until(async () => /followed line/.test(await logs.innerText()), T, 'the new log line while following');
  await shot(page, '35b-worker-logs');
  await page.keyboard.press('Escape');
  await page.locator('.ant-drawer-mask').waitFor({ state: 'detached', timeout: T }).catch(() => undefined);
});

step('cameras: the worker and state of each camera, commands, placement by hand, an error shown live', async () => {
  // After maintenance the camera was placed again: the worker reports it streaming.
  const lease = await until(async () => {
    const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello() });
    return hb.body.leases?.find((l) => l.camera_id === seed.cam);
  }, T, 'the camera leased again');
  await beat(lease.generation, 'streaming', null);
  await openPage(page, 'Cameras');
  const placement = page.getByTestId(`placement-${seed.cam}`);
  await until(async () => /Streaming/.test(await placement.innerText()) && (await placement.innerText()).includes(worker.name), T, 'the camera streaming on the worker');
  await page.getByRole('button', { name: 'Commands for Front door' }).click();
  await page.locator('.ant-dropdown:visible').getByText('Start streaming', { exact: true }).click();
  await toast('Start streaming: command queued');
  const cmds = (await srv.api('GET', `/v1/workers/${worker.id}/commands`, { token: alice })).body.items;
  assert.equal(cmds[0].type, 'start_streaming');
  assert.equal(cmds[0].params.camera_id, seed.cam);

  await page.getByRole('button', { name: 'Placement of Front door' }).click();
  const dialog = page.getByRole('dialog');
  await pick(dialog.getByRole('combobox', { name: 'Worker' }), worker.name);
  await dialog.getByRole('button', { name: 'Give to this worker' }).click();
  await until(async () => (await srv.api('GET', `/v1/cameras/${seed.cam}`, { token: alice })).body.status?.manual === true, T, 'a manual lease');
  await until(async () => (await placement.innerText()).includes('set by hand'), T, 'the manual lease shown');
  // The dialog closes first: a click while it is still fading out would land in the closing one.
  await dialog.waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Placement of Front door' }).click();
  const again = page.getByRole('dialog');
  await again.getByRole('button', { name: 'Back to automatic placement' }).waitFor();
  await page.waitForFunction(() => !document.querySelector('.ant-zoom-appear, .ant-zoom-enter'), null, { timeout: 3000 }).catch(() => undefined);
  await again.getByRole('button', { name: 'Back to automatic placement' }).click();
  await until(async () => (await srv.api('GET', `/v1/cameras/${seed.cam}`, { token: alice })).body.status?.manual === false, T, 'automatic placement');

  // The worker reports a device conflict: the camera.status event updates the row.
  const now = (await srv.api('GET', `/v1/cameras/${seed.cam}`, { token: alice })).body.status;
  await beat(now.lease_generation, 'error', 'device conflict: /dev/video0 is held by another process');
  await until(async () => /Error/.test(await placement.innerText()) && (await placement.innerText()).includes('device conflict'), T, 'the error and its reason');
  await shot(page, '37-cameras-placement');
});

step('jobs: a tenant admin reads jobs and runs; a system admin runs one now', async () => {
  await openPage(page, 'Jobs');
  const api = (await srv.api('GET', '/v1/jobs', { token: alice })).body;
  const rows = await page.getByTestId('jobs').locator('.ant-table-tbody').innerText();
  for (const j of api.jobs) assert.ok(rows.includes(j.name), `${j.name} in ${rows}`);
  assert.equal(await page.getByRole('button', { name: /^Run .* now$/ }).count(), 0, 'a tenant admin cannot run jobs');
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('heading', { name: 'Tác vụ nền' }).waitFor({ timeout: T });
  await page.getByText('EN', { exact: true }).click();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, timezoneId: 'UTC', locale: 'en-GB' });
  const p = await ctx.newPage();
  const perrs = watchErrors(p);
  await signIn(p, srv.url, 'admin', srv.adminPassword);
  await openPage(p, 'Jobs');
  await p.getByRole('button', { name: 'Run fleet-history now' }).click();
  await p.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Run now' }).click();
  await p.locator('.ant-message').getByText(/fleet-history: /).waitFor({ timeout: T });
  const admin = await srv.token('admin', srv.adminPassword);
  const [run] = (await srv.api('GET', '/v1/jobs?job=fleet-history', { token: admin })).body.runs;
  assert.equal(run.trigger, 'manual');
  const runRow = p.getByTestId('job-runs').locator('.ant-table-row').filter({ hasText: 'By hand' }).first();
  await runRow.waitFor({ timeout: T });
  assert.match(await runRow.innerText(), run.outcome === 'ok' ? /OK/ : /Found problems|Failed/);
  await shot(p, '38-jobs');
  assert.deepEqual(perrs, []);
  await ctx.close();
});

async function beat(generation, state, reason) {
  const hb = await srv.api('POST', '/v1/worker/heartbeat', { token: key, body: hello({
    leases: [{ camera_id: seed.cam, generation }],
    cameras: [{ id: seed.cam, state, reason, frames_in: 10, processed: 5, faces: 0, events: 0, errors: state === 'error' ? 1 : 0, reconnects: 0 }],
  }) });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
}

step('customers: not the same person, a visit moved, visits split off, the subject-access export', async () => {
  await openPage(page, 'Customers');
  const customers = (await srv.api('GET', '/v1/customers?limit=200', { token: alice })).body.items.sort((a, b) => a.id - b.id);
  assert.equal(customers.length, 3, 'persons 1, 2 and 7');
  const [a, b] = customers;
  await page.getByRole('button', { name: `Details of customer #${a.id}` }).click();
  const drawer = page.getByTestId('customer-drawer');
  const similar = drawer.getByTestId('similar-customer').filter({ hasText: `Customer #${b.id}` });
  await similar.getByRole('button', { name: `Customer #${b.id} is not the same person` }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Not the same person' }).click();
  await similar.getByText('marked as a different person').waitFor({ timeout: T });
  const sim = (await srv.api('GET', `/v1/customers/${a.id}/similar`, { token: alice })).body.items.find((x) => x.customer_id === b.id);
  assert.equal(sim.not_same_person, true);
  await page.keyboard.press('Escape');
  await page.locator('.ant-drawer-mask').waitFor({ state: 'detached', timeout: T }).catch(() => undefined);

  // Move b's visit to a, then split it off again into a new customer.
  const bVisit = (await srv.api('GET', `/v1/visits?customer_id=${b.id}`, { token: alice })).body.items[0];
  await page.getByRole('button', { name: `Details of customer #${b.id}` }).click();
  const row = page.getByTestId('customer-drawer').locator(`[data-testid="customer-visit"][data-visit-id="${bVisit.id}"]`);
  await row.getByLabel(`Customer to move visit ${bVisit.id} to`).fill(String(a.id));
  await row.getByRole('button', { name: `Move visit ${bVisit.id}` }).click();
  await toast(`Visit moved to customer #${a.id}`);
  assert.equal((await srv.api('GET', `/v1/visits/${bVisit.id}`, { token: alice })).body.customer_id, a.id);
  await page.keyboard.press('Escape');
  await page.locator('.ant-drawer-mask').waitFor({ state: 'detached', timeout: T }).catch(() => undefined);

  await page.getByRole('button', { name: `Details of customer #${a.id}` }).click();
  const moved = page.getByTestId('customer-drawer').locator(`[data-testid="customer-visit"][data-visit-id="${bVisit.id}"]`);
  await moved.getByLabel(`Select visit ${bVisit.id}`).check();
  await page.getByRole('button', { name: 'Split selected off (1)' }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Split off' }).click();
  await toast(/Customer #\d+ created from 0 face\(s\) and 1 visit/);
  const after = (await srv.api('GET', `/v1/visits/${bVisit.id}`, { token: alice })).body.customer_id;
  assert.notEqual(after, a.id);
  assert.ok(after > b.id, 'a new customer');

  const [download] = await Promise.all([page.waitForEvent('download', { timeout: T }), page.getByRole('button', { name: 'Download their data' }).click()]);
  const zip = readFileSync(await download.path());
  assert.equal(zip.subarray(0, 2).toString(), 'PK');
  assert.ok(zip.includes(Buffer.from('customer.json')), 'customer.json in the archive');
  assert.match(download.url(), /\/v1\/customers\/\d+\/export\?ticket=/);
  await shot(page, '39-customer-tools');
  await page.keyboard.press('Escape');
});

// Enrolling a face needs the face models and a one-person photo (shared test data).
const AMY = join(SHARED_DATA, 'faces-bbt', 'amy', 'amy1.png');
const faceSkip = !existsSync(join(MODELS_DIR, 'ssd_mobilenetv1_model-weights_manifest.json')) ? 'no face models' : !existsSync(AMY) ? `no ${AMY}` : false;

step('do not track: a photo without a face is refused with the server\'s reason', async () => {
  await openPage(page, 'Do not track');
  await page.getByText('Nobody on the list').waitFor({ timeout: T });
  const pattern = join(srv.dir, 'pattern.jpg');
  writeFileSync(pattern, Buffer.from(crop, 'base64'));
  const said = await srv.api('POST', '/v1/do-not-track', { token: alice, body: { image: crop } });
  assert.ok(said.status >= 400, `the pattern is refused (${said.status})`);
  await page.getByRole('button', { name: 'Add a person' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('input[type=file]').setInputFiles(pattern);
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await dialog.getByRole('alert').waitFor({ timeout: T });
  assert.equal(await dialog.getByRole('alert').innerText(), said.body.error.message);
  await shot(page, '41-do-not-track-refused');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('heading', { name: 'Không theo dõi' }).waitFor({ timeout: T });
  await page.getByText('EN', { exact: true }).click();
});

step('do not track: a person enrolled from a photo, then withdrawn', async () => {
  const photo = join(srv.dir, 'amy.jpg');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', AMY, '-vf', 'pad=450:450:150:150:color=gray', photo]);
  await page.getByRole('button', { name: 'Add a person' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('input[type=file]').setInputFiles(photo);
  await dialog.getByLabel('Reference').fill('REQ-2026-17');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await dialog.getByText('Added: this face is no longer tracked.').waitFor({ timeout: 30000 });
  await dialog.locator('.ant-modal-footer').getByRole('button', { name: 'Close' }).click();
  const row = page.locator('.ant-table-row', { hasText: 'REQ-2026-17' });
  await row.waitFor({ timeout: T });
  const [entry] = (await srv.api('GET', '/v1/do-not-track', { token: alice })).body.items;
  assert.equal(entry.note, 'REQ-2026-17');
  await row.getByRole('button', { name: `Withdraw entry ${entry.id}` }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Withdraw' }).click();
  await row.waitFor({ state: 'detached', timeout: T });
  assert.equal((await srv.api('GET', '/v1/do-not-track', { token: alice })).body.items.length, 0);
}, { skip: faceSkip });

step('staff recognition test: a photo of an enrolled staff member is recognised', async () => {
  const pad = (n) => {
    const out = join(srv.dir, `amy${n}.jpg`);
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(SHARED_DATA, 'faces-bbt', 'amy', `amy${n}.png`), '-vf', 'pad=450:450:150:150:color=gray', out]);
    return out;
  };
  const staff = await srv.api('POST', '/v1/staff', { token: alice, body: { name: 'Amy Farrah', home_site_id: seed.main } });
  assert.equal(staff.status, 201, JSON.stringify(staff.body));
  for (const n of [1, 2]) {
    const r = await srv.api('POST', `/v1/staff/${staff.body.id}/faces`, { token: alice, body: { image: readFileSync(pad(n)).toString('base64') } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const probe = pad(3);
  const said = await srv.api('POST', '/v1/staff/recognize', { token: alice, body: { image: readFileSync(probe).toString('base64') } });
  assert.equal(said.status, 200);
  assert.equal(said.body.faces[0].matches[0].name, 'Amy Farrah');
  await openPage(page, 'Staff');
  await page.locator('input[type=file]').first().setInputFiles(probe);
  const face = page.getByRole('dialog').getByTestId('recognized-face').first();
  await face.waitFor({ timeout: 30000 });
  const text = await face.innerText();
  assert.match(text, /Amy Farrah/);
  assert.match(text, said.body.faces[0].matches[0].match ? /Recognised/ : /Similar/);
  await shot(page, '42-staff-recognition');
  await page.keyboard.press('Escape');
}, { skip: faceSkip });

const toast = (text) => page.locator('.ant-message').getByText(text).first().waitFor({ timeout: T });

step('forgetting a worker removes it', async () => {
  await page.getByRole('menu').getByRole('link', { name: 'Workers', exact: true }).click();
  await workerRow().getByRole('button', { name: `Forget ${worker.name}` }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Forget' }).click();
  await workerRow().waitFor({ state: 'detached', timeout: T });
  assert.equal((await srv.api('GET', `/v1/workers/${worker.id}`, { token: alice })).status, 404);
  assert.deepEqual(errors, []);
});
