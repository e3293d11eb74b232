// The dashboard in Debian's Chromium against the real server with a seeded
// database: sign-in, session across reloads, tenant switching, every page of
// this slice with real data, server errors shown, English and Vietnamese,
// what a viewer may not see. Screenshots go to tests/artifacts/browser/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODELS_DIR, ROOT, SHARED_DATA, Server, checkPrerequisites, clearFailedShots, launchChromium, openPage, shot, signIn, watchErrors } from './lib.mjs';

// Staff enrolment needs the face models (bootstrap) and one-person photos:
// crops from the shared faces-bbt set, padded so the detector sees a whole head.
const BBT = join(SHARED_DATA, 'faces-bbt', 'amy');
const GROUP = join(ROOT, 'data', 'samples', 'sample1.jpg');
const enrolSkip = !existsSync(join(MODELS_DIR, 'ssd_mobilenetv1_model-weights_manifest.json')) ? 'no face models (tools/bootstrap.sh models)'
  : !existsSync(BBT) ? `no ${BBT} (the shared test data is absent)` : !existsSync(GROUP) ? `no ${GROUP}` : false;

const T = 15000; // deadline for any one thing to appear
let srv, browser, page, errors, adminToken;
const seed = {};

before(async () => {
  checkPrerequisites();
  clearFailedShots();
  srv = new Server();
  seed.acme = srv.admin('create-tenant', '--name', 'Acme Retail').tenant_id;
  seed.other = srv.admin('create-tenant', '--name', 'Other Co').tenant_id;
  seed.hanoi = srv.admin('create-site', '--tenant-id', String(seed.acme), '--name', 'Hanoi Store', '--timezone', 'Asia/Ho_Chi_Minh').site_id;
  srv.admin('create-site', '--tenant-id', String(seed.other), '--name', 'Other Site', '--timezone', 'Europe/Paris');
  srv.admin('create-user', '--username', 'alice', '--password', 'alice-password-1', '--role', 'tenant_admin', '--tenant-id', String(seed.acme));
  await srv.start();
  adminToken = await srv.token('admin', srv.adminPassword);
  // A camera bound to the Hanoi store (so deleting the site is refused), and
  // enough audited changes that the audit log needs more than one page.
  const cam = await srv.api('POST', '/v1/cameras', { token: adminToken, body: { site_id: seed.hanoi, name: 'Front door', kind: 'rtsp', url: 'rtsp://cam:s3cret-pass@10.1.2.3/stream1' } });
  assert.equal(cam.status, 201, JSON.stringify(cam.body));
  seed.frontDoor = cam.body.id;
  for (let i = 0; i < 55; i++) {
    const r = await srv.api('PATCH', `/v1/sites/${seed.hanoi}`, { token: adminToken, body: { address: `12 Trang Tien, rev ${i}` } });
    assert.equal(r.status, 200);
  }
  if (!enrolSkip) {
    for (const i of [1, 2]) {
      execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', join(BBT, `amy${i}.png`), '-vf', 'pad=450:450:150:150:color=gray',
        join(srv.dir, `amy${i}.jpg`)]);
    }
  }
  await seedVisits();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(T);
  errors = watchErrors(page);
});

/**
 * Visits through the worker protocol (POST /v1/worker/events with a worker
 * key), as a worker would send them: one returning customer (seen two days ago
 * and today) and 33 customers seen once today, so the list needs two pages.
 * Descriptors are fixed pseudo-random vectors, one per person.
 */
async function seedVisits() {
  const key = srv.admin('create-api-key', '--tenant-id', String(seed.acme), '--name', 'seed worker').secret;
  const crop = join(srv.dir, 'crop.jpg');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', ...(existsSync(BBT)
    ? ['-i', join(BBT, 'amy3.png'), '-vf', 'pad=300:300:75:75:color=gray'] : ['-f', 'lavfi', '-i', 'testsrc=s=200x200', '-frames:v', '1']), crop]);
  const cropB64 = readFileSync(crop).toString('base64');
  let x = 7;
  const person = () => Array.from({ length: 128 }, () => { x = (x * 16807) % 2147483647; return (x / 2147483647 - 0.5) * 0.3; });
  const now = Date.now();
  const event = (descriptor, at) => ({ id: randomUUID(), camera_id: seed.frontDoor, captured_at: new Date(at).toISOString(), descriptor,
    score: 0.95, quality: 0.9, box: { x: 75, y: 70, width: 130, height: 160 }, age: 34, gender: 'female', gender_probability: 0.9, crop_jpeg: cropB64 });
  const returning = person();
  const events = [event(returning, now - 2 * 86400000), event(returning, now - 3600000)];
  for (let i = 0; i < 33; i++) events.push(event(person(), now - 60000 * (i + 2)));
  const r = await srv.api('POST', '/v1/worker/events', { token: key, body: { events } });
  assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 500));
  assert.ok(r.body.results.every((x) => x.outcome === 'new_visit'), JSON.stringify(r.body.results.filter((x) => x.outcome !== 'new_visit')));
}

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** A test that leaves a screenshot of the page when it fails. */
function step(name, fn, opts = {}) {
  test(name, opts, async () => {
    try {
      await fn();
    } catch (e) {
      await shot(page, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => undefined);
      // Keep the report short: no page dumps in assertion messages.
      if (e && typeof e.message === 'string' && e.message.length > 2000) e.message = e.message.slice(0, 2000) + '…';
      throw e;
    }
  });
}

const dialog = () => page.getByRole('dialog');
const row = (text) => page.locator('.ant-table-row', { hasText: text });
const toast = () => page.locator('.ant-message');

async function pickOption(combobox, text) {
  await combobox.click();
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option').filter({ hasText: exact }).first().click();
}
async function searchOption(combobox, typed) {
  await combobox.click();
  await combobox.fill(typed);
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option').first().waitFor();
  await combobox.press('Enter');
}
async function nav(label) {
  await page.getByRole('menu').getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { name: label, exact: true }).waitFor();
  await page.locator('.ant-spin-spinning').first().waitFor({ state: 'detached' }).catch(() => undefined);
}
/** Text the user can see (not attributes or hidden nodes). */
async function visibleText() {
  return page.evaluate(() => document.body.innerText);
}
async function html() {
  return page.content();
}
async function listAll(path, token = adminToken) {
  const out = [];
  let cursor;
  for (;;) {
    const r = await srv.api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=200${cursor !== undefined ? `&cursor=${cursor}` : ''}`, { token });
    assert.equal(r.status, 200);
    out.push(...r.body.items);
    if (r.body.next_cursor === null) return out;
    cursor = r.body.next_cursor;
  }
}

step('sign-in refuses a wrong password with the server message', async () => {
  await page.goto(srv.url + '/sites');
  await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: T });
  assert.match(page.url(), /\/login$/);
  await shot(page, '01-login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor({ timeout: T });
  const said = await srv.api('POST', '/v1/auth/login', { body: { username: 'nobody-here', password: 'x' } });
  assert.equal(await page.getByRole('alert').innerText(), said.body.error.message);
  await shot(page, '02-login-error');
});

step('a system admin signs in, sees every tenant, and comes back to the page asked for', async () => {
  await page.getByLabel('Password').fill(srv.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sites' }).waitFor({ timeout: T });
  assert.match(page.url(), /\/sites$/);
  // Global view: both tenants' sites, with their tenant.
  await row('Other Site').waitFor({ timeout: T });
  assert.match(await row('Other Site').innerText(), /Other Co/);
  await nav('Dashboard');
  const sites = await listAll('/v1/sites');
  await page.getByTestId('stat-sites').getByText(String(sites.length), { exact: true }).waitFor({ timeout: T });
  assert.equal(sites.length, 2);
  await shot(page, '03-dashboard-all-tenants');
});

step('the tenant switcher scopes the session, and it survives a reload', async () => {
  await pickOption(page.getByRole('combobox', { name: 'Tenant' }), 'Acme Retail');
  const switcher = page.locator('.app-header .ant-select');
  await until(async () => (await switcher.innerText()).includes('Acme Retail'));
  await page.getByTestId('stat-sites').getByText('1', { exact: true }).waitFor({ timeout: T });
  await page.reload();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: T });
  assert.match(await switcher.innerText(), /Acme Retail/);
  // Inside a tenant, the switcher still offers the other tenants (the list seen in the all-tenants view).
  await page.getByRole('combobox', { name: 'Tenant' }).click();
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: 'Other Co' }).waitFor();
  await page.keyboard.press('Escape');
  await page.getByTestId('stat-sites').getByText('1', { exact: true }).waitFor({ timeout: T });
  await page.getByTestId('stat-cameras').getByText('1', { exact: true }).waitFor({ timeout: T });
  await shot(page, '04-dashboard-tenant');
});

step('sites: create with a time zone and opening hours; a refused delete shows why', async () => {
  await nav('Sites');
  await row('Hanoi Store').waitFor({ timeout: T });
  assert.doesNotMatch(await page.locator('.ant-table-tbody').innerText(), /Other Site/);
  await page.getByRole('button', { name: 'Add site' }).click();
  await dialog().getByLabel('Name').fill('Da Nang Store');
  await dialog().getByLabel('Address').fill('1 Bach Dang, Da Nang');
  await searchOption(dialog().getByLabel('Time zone'), 'Ho_Chi');
  await dialog().getByRole('button', { name: 'Add opening hours for Monday' }).click();
  await dialog().getByLabel('Monday closes at').fill('18:30');
  await dialog().getByRole('button', { name: 'Add opening hours for Saturday' }).click();
  await shot(page, '06-site-dialog');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Da Nang Store').waitFor({ timeout: T });
  const created = (await listAll('/v1/sites')).find((s) => s.name === 'Da Nang Store');
  assert.equal(created.timezone, 'Asia/Ho_Chi_Minh');
  assert.deepEqual(created.opening_hours, { mon: [['09:00', '18:30']], sat: [['09:00', '17:00']] });
  assert.match(await row('Da Nang Store').innerText(), /Mon 09:00–18:30/);

  // The Hanoi store still has a camera: the server refuses, the page says why.
  await page.getByRole('button', { name: 'Delete Hanoi Store' }).click();
  await page.locator('.ant-popconfirm').getByRole('button', { name: 'Delete' }).click();
  const refused = await srv.api('DELETE', `/v1/sites/${seed.hanoi}`, { token: adminToken });
  assert.equal(refused.status, 409);
  await toast().getByText(refused.body.error.message).waitFor({ timeout: T });
  await row('Hanoi Store').waitFor();
  await shot(page, '05-sites');
});

step('cameras: add a file camera and an RTSP camera, URL masked, toggles saved', async () => {
  // The list carries each camera's placement and state: no request per camera.
  const perCamera = [];
  const onRequest = (r) => { if (r.method() === 'GET' && /\/v1\/cameras\/\d+(\?|$)/.test(r.url())) perCamera.push(r.url()); };
  page.on('request', onRequest);
  await nav('Dashboard');
  await page.getByTestId('stat-cameras-trouble').getByText('1', { exact: true }).waitFor({ timeout: T });
  await nav('Cameras');
  await row('Front door').waitFor({ timeout: T });
  await row('Front door').locator('[data-state="unassigned"]').waitFor({ timeout: T });
  page.off('request', onRequest);
  assert.deepEqual(perCamera, [], 'the dashboard and the cameras page read the camera list only');
  assert.match(await row('Front door').innerText(), /rtsp:\/\/cam:\*\*\*\*@10\.1\.2\.3\/stream1/);
  assert.ok(!(await html()).includes('s3cret-pass'), 'the stored camera password reached the page');

  await page.getByRole('button', { name: 'Add camera' }).click();
  await searchOption(dialog().getByLabel('Site'), 'Da Nang');
  await dialog().getByLabel('Name').fill('Lobby file');
  await dialog().getByText('Video file').click();
  await dialog().getByLabel('File path on the worker').fill('relative/path.mp4');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await dialog().getByText('Must be an absolute path').waitFor({ timeout: T });
  await dialog().getByLabel('File path on the worker').fill('/srv/videos/lobby.mp4');
  await shot(page, '08-camera-dialog');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Lobby file').waitFor({ timeout: T });

  await page.getByRole('button', { name: 'Add camera' }).click();
  await searchOption(dialog().getByLabel('Site'), 'Da Nang');
  await dialog().getByLabel('Name').fill('Side gate');
  await dialog().getByLabel('Stream URL').fill('rtsp://viewer:gate-pass-99@10.9.9.9:554/main');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Side gate').waitFor({ timeout: T });
  assert.match(await row('Side gate').innerText(), /rtsp:\/\/viewer:\*\*\*\*@10\.9\.9\.9:554\/main/);
  await dialog().waitFor({ state: 'detached' });
  assert.ok(!(await html()).includes('gate-pass-99'), 'the camera password stayed in the page');

  await page.getByRole('switch', { name: 'Face recognition on Lobby file' }).click();
  await page.waitForFunction(() => document.querySelector('[aria-label="Face recognition on Lobby file"]')?.getAttribute('aria-checked') === 'false');
  const cams = await listAll('/v1/cameras');
  const lobby = cams.find((c) => c.name === 'Lobby file');
  assert.equal(lobby.kind, 'file');
  assert.equal(lobby.url, '/srv/videos/lobby.mp4');
  await until(async () => (await srv.api('GET', `/v1/cameras/${lobby.id}`, { token: adminToken })).body.processing === false);

  // Editing without touching the URL keeps the stored password.
  await page.getByRole('button', { name: 'Edit Side gate' }).click();
  await dialog().getByLabel('Name').fill('Side gate east');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Side gate east').waitFor({ timeout: T });
  const gate = (await listAll('/v1/cameras')).find((c) => c.name === 'Side gate east');
  assert.equal(gate.has_credentials, true);
  assert.equal(gate.url, 'rtsp://viewer:****@10.9.9.9:554/main');

  await pickOption(page.getByRole('combobox', { name: 'Site' }), 'Hanoi Store');
  await page.locator('.ant-table-row').first().waitFor();
  await until(async () => (await page.locator('.ant-table-row').count()) === 1);
  await shot(page, '07-cameras');
});

async function until(fn, ms = T) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

step('staff: add a member with profile fields; enrol faces one by one, a group photo refused with the reason', async () => {
  await nav('Staff');
  await page.getByRole('button', { name: 'Add staff member' }).click();
  await dialog().getByLabel('Full name').fill('Linh Tran');
  await searchOption(dialog().getByLabel('Home site'), 'Hanoi');
  await pickOption(dialog().getByLabel('Gender'), 'Female');
  await dialog().getByLabel('Birth year').fill('1990');
  await dialog().getByLabel('Phone').fill('+84 90 123 4567');
  await dialog().getByLabel('Email').fill('linh@example.com');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Linh Tran').waitFor();
  assert.match(await row('Linh Tran').innerText(), /Hanoi Store[\s\S]*Female[\s\S]*1990[\s\S]*linh@example\.com[\s\S]*2 more picture/);
  const linh = (await listAll('/v1/staff')).find((x) => x.name === 'Linh Tran');
  assert.deepEqual([linh.home_site_id, linh.gender, linh.birth_year, linh.phone, linh.ready], [seed.hanoi, 'female', 1990, '+84 90 123 4567', false]);
  await shot(page, '19-staff');
  if (enrolSkip) {
    console.log(`# staff enrolment not tested: ${enrolSkip}`);
    return;
  }

  await page.getByRole('button', { name: 'Faces of Linh Tran' }).click();
  await page.getByTestId('staff-readiness').getByText('2 more picture(s) needed').waitFor();
  await page.getByLabel('Upload face pictures').setInputFiles([join(srv.dir, 'amy1.jpg'), GROUP, join(srv.dir, 'amy2.jpg')]);
  const results = page.getByTestId('upload-results');
  await until(async () => (await results.locator('.ant-list-item').count()) === 3, 60000);
  const lines = await results.locator('.ant-list-item').allInnerTexts();
  assert.match(lines[0], /^amy1\.jpg: enrolled \(quality \d+%\)/);
  assert.match(lines[1], /^sample1\.jpg: the picture shows \d+ faces/);
  assert.match(lines[2], /^amy2\.jpg: enrolled/);
  await page.getByTestId('staff-readiness').getByText('Recognisable').waitFor();
  const after = (await srv.api('GET', `/v1/staff/${linh.id}`, { token: adminToken })).body;
  assert.equal(after.face_count, 2);
  assert.equal(after.ready, true);
  // Each enrolled face shows its picture, fetched with the session (a blob: URL, no token in a URL).
  const pictures = page.getByRole('img', { name: 'Face picture of Linh Tran' });
  await until(async () => (await pictures.count()) === 2 &&
    (await pictures.evaluateAll((els) => els.every((e) => e.complete && e.naturalWidth > 0 && e.src.startsWith('blob:')))), 20000);
  await shot(page, '20-staff-faces');
  await page.keyboard.press('Escape');
  await row('Linh Tran').getByText('Recognisable').waitFor();
});

// The webcam: Chromium's fake camera plays a video of one face (a photo from
// the shared set, looped); one context may use the camera, another may not.
step('staff: a face taken with the webcam is enrolled; a camera the browser may not use is explained', async () => {
  if (enrolSkip) {
    console.log(`# webcam enrolment not tested: ${enrolSkip}`);
    return;
  }
  const y4m = join(srv.dir, 'webcam.y4m');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-loop', '1', '-i', join(SHARED_DATA, 'faces-bbt', 'penny', 'penny1.png'),
    '-vf', 'pad=300:225:75:37:color=gray,scale=640:480', '-r', '5', '-t', '2', '-pix_fmt', 'yuv420p', y4m]);
  const cam = await launchChromium(['--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
  try {
    const linh = (await listAll('/v1/staff')).find((x) => x.name === 'Linh Tran');
    const ctx = await cam.newContext({ viewport: { width: 1280, height: 800 }, permissions: ['camera'] });
    const p = await ctx.newPage();
    p.setDefaultTimeout(T);
    await signIn(p, srv.url, 'alice', 'alice-password-1');
    await openPage(p, 'Staff');
    await p.getByRole('button', { name: 'Faces of Linh Tran' }).click();
    await p.getByRole('button', { name: 'Take with the camera' }).click();
    const video = p.getByTestId('webcam-video');
    await until(() => video.evaluate((v) => v.videoWidth > 0 && !v.paused));
    await shot(p, '20b-staff-webcam');
    await p.getByRole('button', { name: 'Take picture' }).click();
    const results = p.getByTestId('upload-results');
    await results.getByText(/^webcam-1\.jpg: enrolled \(quality \d+%\)/).waitFor({ timeout: 60000 });
    const after = (await srv.api('GET', `/v1/staff/${linh.id}`, { token: adminToken })).body;
    assert.equal(after.face_count, linh.face_count + 1);
    await p.locator('.ant-modal-footer').getByRole('button', { name: 'Close', exact: true }).click();
    await video.waitFor({ state: 'detached' });
    await ctx.close();

    // No camera permission: the reason and what to do, no upload.
    const denied = await cam.newContext({ viewport: { width: 1280, height: 800 } });
    const q = await denied.newPage();
    q.setDefaultTimeout(T);
    await signIn(q, srv.url, 'alice', 'alice-password-1');
    await openPage(q, 'Staff');
    await q.getByRole('button', { name: 'Faces of Linh Tran' }).click();
    await q.getByRole('button', { name: 'Take with the camera' }).click();
    await q.getByTestId('webcam-problem').getByText(/not allowed to use the camera/).waitFor();
    assert.equal(await q.getByRole('button', { name: 'Take picture' }).isDisabled(), true);
    await shot(q, '20c-staff-webcam-denied');
    assert.equal((await srv.api('GET', `/v1/staff/${linh.id}`, { token: adminToken })).body.face_count, linh.face_count + 1);
    await denied.close();
  } finally {
    await cam.close();
  }
});

step('visits: cards with pictures and site-local times, infinite scroll, filter, delete', async () => {
  await nav('Visits');
  const cards = page.getByTestId('visit-card');
  await cards.first().waitFor();
  assert.equal(await cards.count(), 30);
  const switched = await srv.api('POST', '/v1/auth/switch-tenant', { token: adminToken, body: { tenant_id: seed.acme } });
  const acmeToken = switched.body.access_token;
  const total = (await listAll('/v1/visits', acmeToken)).length;
  assert.equal(total, 35);
  await page.getByTestId('visits-end').scrollIntoViewIfNeeded();
  await page.getByText(`All ${total} visits shown`).waitFor();
  assert.equal(await cards.count(), total);
  assert.match(await cards.first().innerText(), /Hanoi Store[\s\S]*\(Asia\/Ho_Chi_Minh\)/);
  // The face picture came through an authenticated request, as a blob: URL.
  const img = cards.first().locator('img');
  await img.waitFor();
  assert.match(await img.getAttribute('src'), /^blob:/);
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth > 0));
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, '21-visits');

  await pickOption(page.getByRole('combobox', { name: 'Visitor kind' }), 'Returning');
  const returning = (await listAll('/v1/visits?kind=returning', acmeToken));
  assert.equal(returning.length, 1);
  await until(async () => (await cards.count()) === 1);
  assert.match(await cards.first().innerText(), /Returning/);
  await page.getByRole('button', { name: `Delete visit ${returning[0].id}` }).click();
  await page.locator('.ant-popconfirm').getByRole('button', { name: 'Delete' }).click();
  await page.getByText('No visits match these filters').waitFor();
  assert.equal((await srv.api('GET', `/v1/visits/${returning[0].id}`, { token: acmeToken })).status, 404);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByText(`All ${total - 1} visits shown`).waitFor().catch(async () => {
    await page.getByTestId('visits-end').scrollIntoViewIfNeeded();
    await page.getByText(`All ${total - 1} visits shown`).waitFor();
  });

  // Reassign: the dialog shows the customer the visit goes to before it moves; then put it back.
  const [v1, v2] = (await listAll('/v1/visits', acmeToken)).slice(-2);
  await page.getByRole('button', { name: `Move visit ${v1.id}`, exact: true }).click();
  const input = dialog().getByLabel(`Customer to move visit ${v1.id} to`);
  await input.fill('999999');
  await dialog().getByRole('alert').getByText('no such customer').waitFor();
  assert.equal(await dialog().getByRole('button', { name: 'Move the visit' }).isDisabled(), true);
  await input.fill(String(v2.customer_id));
  await dialog().getByTestId('reassign-target').getByText(`Customer #${v2.customer_id}`).waitFor();
  await shot(page, '21b-visit-reassign');
  await dialog().getByRole('button', { name: 'Move the visit' }).click();
  await toast().getByText(`Visit moved to customer #${v2.customer_id}`).waitFor();
  assert.equal((await srv.api('GET', `/v1/visits/${v1.id}`, { token: acmeToken })).body.customer_id, v2.customer_id);
  const back = await srv.api('POST', `/v1/visits/${v1.id}/reassign`, { token: acmeToken, body: { customer_id: v1.customer_id } });
  assert.equal(back.status, 200, JSON.stringify(back.body));
});

step('customers: details with visits, edit, merge two, erase one with a receipt', async () => {
  await nav('Customers');
  const acmeToken = (await srv.api('POST', '/v1/auth/switch-tenant', { token: adminToken, body: { tenant_id: seed.acme } })).body.access_token;
  const all = await listAll('/v1/customers', acmeToken);
  assert.equal(all.length, 34);
  const rows = page.locator('.ant-table-tbody .ant-table-row');
  await rows.first().waitFor();
  const idOf = async (i) => Number((await rows.nth(i).locator('td').nth(1).innerText()).trim());
  const [a, b, c] = [await idOf(0), await idOf(1), await idOf(2)];
  // Newest first: the first row is the customer seen last.
  const newest = [...all].sort((x, y) => y.last_seen_at_ms - x.last_seen_at_ms)[0];
  assert.equal(a, newest.id);

  await page.getByRole('button', { name: `Details of customer #${a}`, exact: true }).click();
  await page.getByTestId('customer-visits').locator('.ant-list-item').first().waitFor();
  assert.equal(await page.getByTestId('customer-visits').locator('.ant-list-item').count(), newest.visit_count);
  await shot(page, '23-customer-details');
  await page.keyboard.press('Escape');

  await page.getByRole('button', { name: `Edit #${a}`, exact: true }).click();
  await dialog().getByLabel('Name').fill('Mai Nguyen');
  await dialog().getByLabel('Age').fill('29');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Mai Nguyen').waitFor();
  const edited = (await srv.api('GET', `/v1/customers/${a}`, { token: acmeToken })).body;
  assert.deepEqual([edited.name, edited.age, edited.age_source], ['Mai Nguyen', 29, 'manual']);

  await page.getByLabel(`Select customer #${a}`, { exact: true }).check();
  await page.getByLabel(`Select customer #${b}`, { exact: true }).check();
  await page.getByRole('button', { name: 'Merge selected (2)' }).click();
  await pickOption(dialog().getByRole('combobox', { name: 'Customer to keep' }), `Mai Nguyen (#${a}) · 1 visits`);
  await dialog().getByRole('button', { name: 'Merge' }).click();
  await toast().getByText('Customers merged').waitFor();
  const kept = (await srv.api('GET', `/v1/customers/${a}`, { token: acmeToken })).body;
  assert.equal(kept.visit_count, 2);
  assert.equal((await srv.api('GET', `/v1/customers/${b}`, { token: acmeToken })).status, 404);
  await until(async () => (await page.getByRole('button', { name: `Details of customer #${b}`, exact: true }).count()) === 0);
  await shot(page, '22-customers');

  // Split by face: the merged gallery holds both faces; one goes off to a new customer.
  const facesOf = async (id) => (await srv.api('GET', `/v1/customers/${id}/faces`, { token: acmeToken })).body.items;
  const merged = await facesOf(a);
  assert.equal(merged.length, 2, JSON.stringify(merged));
  await page.getByRole('button', { name: `Details of customer #${a}`, exact: true }).click();
  const gallery = page.getByTestId('customer-faces');
  await until(async () => (await gallery.getByTestId('customer-face').count()) === 2);
  await gallery.locator(`[data-face-id="${merged[0].id}"] img`).waitFor();
  await shot(page, '23b-customer-faces');
  await gallery.getByLabel(`Select face ${merged[1].id}`).check();
  await page.getByRole('button', { name: 'Split selected off (1)' }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Split off' }).click();
  await toast().getByText(/Customer #\d+ created from 1 face\(s\) and 0 visit\(s\)/).waitFor();
  await until(async () => (await gallery.getByTestId('customer-face').count()) === 1);
  assert.deepEqual((await facesOf(a)).map((f) => f.id), [merged[0].id]);
  const fresh = (await listAll('/v1/customers', acmeToken)).find((x) => x.id > Math.max(a, b, c) && x.exemplar_count === 1 && x.visit_count === 0);
  assert.ok(fresh, 'a new customer holds the face split off');
  assert.deepEqual((await facesOf(fresh.id)).map((f) => f.id), [merged[1].id]);
  // The notice may cover the drawer's Close button, and a hovered notice stays: let it go first.
  await page.mouse.move(5, 795);
  await toast().getByText(/Customer #\d+ created from/).waitFor({ state: 'detached', timeout: T });
  await page.getByTestId('customer-drawer').getByRole('button', { name: 'Close' }).click();
  await page.getByTestId('customer-drawer').waitFor({ state: 'hidden' });

  await page.getByRole('button', { name: `Erase customer #${c}`, exact: true }).click();
  await page.locator('.ant-popconfirm').getByRole('button', { name: 'Erase' }).click();
  await page.locator(".ant-modal-confirm-title", { hasText: `Customer #${c} erased` }).waitFor();
  assert.match(await page.locator('.ant-modal-confirm').innerText(), /Removed \d+ face descriptors and \d+ pictures; 1 visits kept/);
  await page.locator('.ant-modal-confirm').getByRole('button').click();
  const erased = await srv.api('GET', `/v1/customers/${c}`, { token: acmeToken });
  assert.ok(erased.status === 404 || erased.body.exemplar_count === 0, JSON.stringify(erased.body));
});

step('visits: two visits of one pass merged into one after a confirmation', async () => {
  const acmeToken = (await srv.api('POST', '/v1/auth/switch-tenant', { token: adminToken, body: { tenant_id: seed.acme } })).body.access_token;
  const shown = (await listAll('/v1/visits', acmeToken)).slice(0, 30);
  let pair = null;
  for (const x of shown)
    for (const y of shown)
      if (!pair && x.id < y.id && x.site_id === y.site_id && x.local_day === y.local_day && x.customer_id !== y.customer_id) pair = [x, y];
  assert.ok(pair, 'two visits of one site and day on the first page');
  const [target, other] = [...pair].sort((p, q) => p.first_seen_at_ms - q.first_seen_at_ms || p.id - q.id);
  await nav('Visits');
  await page.getByTestId('visit-card').first().waitFor();
  await page.getByLabel(`Select visit ${target.id} for merging`).check();
  assert.equal(await page.getByRole('button', { name: 'Merge 1 visits' }).isDisabled(), true, 'one visit alone does not merge');
  await page.getByLabel(`Select visit ${other.id} for merging`).check();
  await page.getByRole('button', { name: 'Merge 2 visits' }).click();
  await dialog().getByTestId('merge-list').getByText(`#${other.id}`, { exact: true }).waitFor();
  await dialog().getByText(`The visits become visit ${target.id}`).waitFor();
  await shot(page, '21c-visit-merge');
  await dialog().getByRole('button', { name: 'Merge', exact: true }).click();
  await toast().getByText(`Merged into visit ${target.id}`).waitFor();
  assert.equal((await srv.api('GET', `/v1/visits/${other.id}`, { token: acmeToken })).status, 404);
  const merged = (await srv.api('GET', `/v1/visits/${target.id}`, { token: acmeToken })).body;
  assert.equal(merged.detections, target.detections + other.detections);
  assert.equal(merged.last_seen_at_ms, Math.max(target.last_seen_at_ms, other.last_seen_at_ms));
  await page.getByLabel(`Select visit ${other.id} for merging`).waitFor({ state: 'detached' });
});

step('users: create a site viewer, deactivate and reactivate, reset the password', async () => {
  await nav('Users');
  await row('alice').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Add user' }).click();
  await dialog().getByLabel('Username').fill('vera');
  await dialog().getByLabel('Display name').fill('Vera Viewer');
  await dialog().getByLabel('Password').fill('vera-password-1');
  await searchOption(dialog().getByLabel('Site'), 'Hanoi');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('vera').waitFor({ timeout: T });
  assert.match(await row('vera').innerText(), /Viewer[\s\S]*Hanoi Store/);
  let vera = (await listAll('/v1/users')).find((u) => u.username === 'vera');
  assert.equal(vera.role, 'viewer');
  assert.equal(vera.site_id, seed.hanoi);

  await page.getByRole('switch', { name: 'vera active' }).click();
  await until(async () => (await srv.api('GET', `/v1/users/${vera.id}`, { token: adminToken })).body.active === false);
  assert.equal((await srv.api('POST', '/v1/auth/login', { body: { username: 'vera', password: 'vera-password-1' } })).status, 401);
  await page.getByRole('switch', { name: 'vera active' }).click();
  await until(async () => (await srv.api('GET', `/v1/users/${vera.id}`, { token: adminToken })).body.active === true);

  await page.getByRole('button', { name: 'Reset the password of vera' }).click();
  await dialog().getByLabel('New password').fill('vera-password-2');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await toast().getByText('Password reset').waitFor({ timeout: T });
  assert.equal((await srv.api('POST', '/v1/auth/login', { body: { username: 'vera', password: 'vera-password-2' } })).status, 200);
  await shot(page, '09-users');
});

step('API keys: the secret is shown once and works; revoking stops it', async () => {
  await nav('API keys');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await dialog().getByLabel('Name').fill('Hanoi worker');
  await dialog().getByRole('button', { name: 'Create' }).click();
  const secretEl = page.getByTestId('api-key-secret');
  await secretEl.waitFor({ timeout: T });
  const secret = (await secretEl.innerText()).trim();
  assert.match(secret, /^ffk_[0-9a-f]+_\S+$/);
  await page.getByText('It is shown only once').waitFor();
  await shot(page, '10-api-key-secret');
  await page.getByRole('button', { name: 'I have copied the secret' }).click();
  await row('Hanoi worker').waitFor({ timeout: T });
  await dialog().waitFor({ state: 'detached' });
  assert.ok(!(await html()).includes(secret), 'the secret stayed in the page after the dialog closed');
  const key = (await listAll('/v1/api-keys')).find((k) => k.name === 'Hanoi worker');
  assert.ok(secret.startsWith(`ffk_${key.prefix}_`));
  // The key authenticates (as a worker, which may not list sites: 403, not 401).
  assert.equal((await srv.api('GET', '/v1/users', { token: secret })).status, 403);

  await page.getByRole('button', { name: 'Revoke Hanoi worker' }).click();
  await page.locator('.ant-popconfirm').getByRole('button', { name: 'Revoke' }).click();
  await row('Hanoi worker').getByText('Revoked').waitFor({ timeout: T });
  assert.equal((await srv.api('GET', '/v1/users', { token: secret })).status, 401);
  await shot(page, '11-api-keys');
});

step('audit log: scrolls through every page and downloads the CSV', async () => {
  // The page shows the log of the tenant the session is switched into (switching is audited too).
  const switched = await srv.api('POST', '/v1/auth/switch-tenant', { token: adminToken, body: { tenant_id: seed.acme } });
  await nav('Audit log');
  await page.locator('.ant-table-row').first().waitFor({ timeout: T });
  assert.equal(await page.locator('.ant-table-row').count(), 50);
  await page.getByTestId('audit-end').scrollIntoViewIfNeeded();
  const total = (await listAll('/v1/audit', switched.body.access_token)).length;
  assert.ok(total > 60, `only ${total} audit entries`);
  await page.getByText(`All ${total} entries shown`).waitFor({ timeout: T });
  assert.equal(await page.locator('.ant-table-row').count(), total);
  assert.match(await page.locator('.ant-table-tbody').innerText(), /api_key|api-key/);
  await shot(page, '12-audit');

  const [download] = await Promise.all([page.waitForEvent('download', { timeout: T }), page.getByRole('button', { name: 'Download CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.match(csv[0], /action/);
  assert.ok(csv.length - 1 >= total, `CSV has ${csv.length - 1} rows, the log ${total}`);
  assert.ok(csv.some((l) => l.includes('Hanoi worker') || l.includes('api')), 'the CSV mentions the key just made');
});

step('tenants: only in the all-tenants view; create and delete; a tenant in use is refused with the reason', async () => {
  assert.equal(await page.getByRole('menu').getByRole('link', { name: 'Tenants', exact: true }).count(), 0);
  await page.goto(srv.url + '/tenants');
  await page.getByText('Only in the all-tenants view').waitFor();
  await pickOption(page.getByRole('combobox', { name: 'Tenant' }), 'All tenants');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  await page.getByTestId('stat-sites').getByText('3', { exact: true }).waitFor();
  await nav('Tenants');
  await row('Other Co').waitFor({ timeout: T });
  await row('Acme Retail').waitFor({ timeout: T });
  await page.getByRole('button', { name: 'Add tenant' }).click();
  await dialog().getByLabel('Name').fill('Beta Shops');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await row('Beta Shops').waitFor({ timeout: T });
  assert.ok((await listAll('/v1/tenants')).some((x) => x.name === 'Beta Shops' && x.retention_days === 30));
  await page.getByRole('button', { name: 'Delete Acme Retail' }).click();
  await page.locator('.ant-popconfirm').getByRole('button', { name: 'Delete' }).click();
  const refused = await srv.api('DELETE', `/v1/tenants/${seed.acme}`, { token: adminToken });
  assert.equal(refused.status, 409);
  await toast().getByText(refused.body.error.message).waitFor({ timeout: T });
  await until(async () => (await page.locator('.ant-popconfirm:visible').count()) === 0);
  await page.getByRole('button', { name: 'Delete Beta Shops' }).click();
  await page.locator('.ant-popconfirm:visible').getByRole('button', { name: 'Delete' }).click();
  await row('Beta Shops').waitFor({ state: 'detached', timeout: T });
  await shot(page, '13-tenants');
});

step('Vietnamese: menus, headings, dates and numbers switch; the choice is kept', async () => {
  await page.getByText('VI', { exact: true }).click();
  await page.getByRole('menu').getByRole('link', { name: 'Cửa hàng' }).click();
  await page.getByRole('heading', { name: 'Cửa hàng' }).waitFor({ timeout: T });
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'vi');
  const table = await page.locator('.ant-table').innerText();
  assert.match(table, /Múi giờ/);
  assert.match(table, /thg|tháng/); // Vietnamese month names in the dates
  assert.match(table, /T2 09:00–18:30/);
  await shot(page, '14-sites-vi');
  await page.reload();
  await page.getByRole('heading', { name: 'Cửa hàng' }).waitFor({ timeout: T });
  await page.getByRole('menu').getByRole('link', { name: 'Tổng quan' }).click();
  await page.getByText('Phiên của bạn').waitFor({ timeout: T });
  await shot(page, '15-dashboard-vi');
  await page.getByText('EN', { exact: true }).click();
  await page.getByText('Your session').waitFor({ timeout: T });
});

step('a site viewer sees only its site and no admin pages', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  const viewerErrors = watchErrors(p);
  await p.goto(srv.url + '/');
  await p.getByLabel('Username').fill('vera');
  await p.getByLabel('Password').fill('vera-password-2');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByText('Your session').waitFor({ timeout: T });
  const menu = await p.getByRole('menu').innerText();
  assert.match(menu, /Sites/);
  for (const admin of ['Users', 'API keys', 'Audit log', 'Tenants']) assert.doesNotMatch(menu, new RegExp(admin));
  await shot(p, '16-viewer-dashboard');
  await p.goto(srv.url + '/users');
  await p.getByText('No access').waitFor({ timeout: T });
  await shot(p, '17-viewer-no-access');
  await p.getByRole('menu').getByRole('link', { name: 'Sites', exact: true }).click();
  await p.locator('.ant-table-row', { hasText: 'Hanoi Store' }).waitFor({ timeout: T });
  assert.equal(await p.locator('.ant-table-row').count(), 1);
  assert.equal(await p.getByRole('button', { name: 'Add site' }).count(), 0);
  await p.getByRole('menu').getByRole('link', { name: 'Cameras', exact: true }).click();
  await p.locator('.ant-table-row', { hasText: 'Front door' }).waitFor({ timeout: T });
  assert.equal(await p.getByRole('switch', { name: 'Enable Front door' }).isDisabled(), true);
  assert.deepEqual(viewerErrors, []);
  await ctx.close();
});

step('changing the password signs the user out; the new one works', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  await p.goto(srv.url + '/');
  await p.getByLabel('Username').fill('alice');
  await p.getByLabel('Password').fill('alice-password-1');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByText('Your session').waitFor({ timeout: T });
  await p.getByTestId('user-menu').click();
  await p.getByText('Change password', { exact: true }).click();
  const d = p.getByRole('dialog');
  await d.getByLabel('Current password').fill('alice-password-1');
  await d.getByLabel('New password', { exact: true }).fill('alice-password-2');
  await d.getByLabel('Repeat the new password').fill('alice-password-2');
  await shot(p, '18-change-password');
  await d.getByRole('button', { name: 'Change password' }).click();
  await p.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: T });
  await p.getByLabel('Username').fill('alice');
  await p.getByLabel('Password').fill('alice-password-2');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByText('Your session').waitFor({ timeout: T });
  assert.match(await p.getByRole('menu').innerText(), /Audit log/);
  assert.doesNotMatch(await p.getByRole('menu').innerText(), /Tenants/);
  await ctx.close();
});

step('signing out ends the session for good, reload included', async () => {
  await page.getByTestId('user-menu').click();
  await page.getByText('Sign out', { exact: true }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: T });
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: T });
  assert.deepEqual(errors, [], 'console errors in the admin session');
});
