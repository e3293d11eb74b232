// Sessions in a real browser against a server whose access tokens live two
// seconds: an expired token is refreshed from the HttpOnly cookie and the
// request retried, without a sign-in; tabs that reload at the same moment do
// not spend the same single-use refresh token twice (which would end the
// session everywhere); the access token never appears in a URL or in storage.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, checkPrerequisites, launchChromium, shot, until } from './lib.mjs';

const TTL_S = 2;
let srv, browser, ctx, page;
const requests = [];

before(async () => {
  checkPrerequisites();
  srv = new Server();
  const tenant = srv.admin('create-tenant', '--name', 'Acme Retail').tenant_id;
  srv.admin('create-site', '--tenant-id', String(tenant), '--name', 'Hanoi Store', '--timezone', 'Asia/Ho_Chi_Minh');
  srv.admin('create-user', '--username', 'alice', '--password', 'alice-password-1', '--role', 'tenant_admin', '--tenant-id', String(tenant));
  await srv.start(['--access-token-ttl-s', String(TTL_S)]);
  browser = await launchChromium();
  ctx = await browser.newContext();
  ctx.on('request', (r) => requests.push({ url: r.url(), method: r.method(), auth: r.headers().authorization ?? null }));
  page = await ctx.newPage();
  page.setDefaultTimeout(15000);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const signedIn = (p) => p.getByTestId('user-menu').waitFor();

test('an expired access token is refreshed from the cookie and the request retried', async () => {
  await page.goto(srv.url + '/');
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('alice-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await signedIn(page);
  const signedInAt = Date.now();
  // Wait out the access token's lifetime (a clock condition, with a deadline).
  await until(() => Date.now() > signedInAt + TTL_S * 1000 + 1200, 10000, 'the access token to expire');
  const before = requests.length;
  // A page not opened yet, so its data is not cached.
  await page.getByRole('menu').getByRole('link', { name: 'Users', exact: true }).click();
  await page.locator('.ant-table-row', { hasText: 'alice' }).waitFor();
  const later = requests.slice(before);
  const sites = later.filter((r) => new URL(r.url).pathname === '/v1/users');
  assert.ok(later.some((r) => r.url.endsWith('/v1/auth/refresh')), 'no refresh after the token expired');
  assert.ok(sites.length >= 2, 'the refused request was not retried');
  assert.notEqual(sites[0].auth, sites.at(-1).auth, 'the retry did not use the new token');
  await shot(page, 'session-after-refresh');
});

test('tabs reloading together keep the session (refreshes are serialised)', async () => {
  // Slow refresh answers down so that two tabs' refreshes overlap: each waits
  // (up to 1.5 s) for the other tab's refresh before going to the server.
  // Two refreshes in flight at once would present the same single-use token.
  const active = new Set();
  let maxInFlight = 0;
  const done = (r) => active.delete(r);
  ctx.on('requestfinished', done);
  ctx.on('requestfailed', done);
  await ctx.route('**/v1/auth/refresh', async (route) => {
    active.add(route.request());
    maxInFlight = Math.max(maxInFlight, active.size);
    const start = Date.now();
    while (active.size < 2 && Date.now() - start < 1500) await new Promise((r) => setTimeout(r, 20));
    await route.continue();
  });
  const page2 = await ctx.newPage();
  await Promise.all([page.reload(), page2.goto(srv.url + '/')]);
  await Promise.all([signedIn(page), signedIn(page2)]);
  await ctx.unroute('**/v1/auth/refresh');
  ctx.off('requestfinished', done);
  ctx.off('requestfailed', done);
  assert.equal(maxInFlight, 1, 'two tabs refreshed at the same time');
  for (let round = 0; round < 2; round++) {
    await Promise.all([page.reload(), page2.goto(srv.url + '/')]);
    await Promise.all([signedIn(page), signedIn(page2)]);
  }
  // The session family is intact: one more reload still signs in by cookie.
  await page.reload();
  await signedIn(page);
  await page2.close();
});

test('the access token is never in a URL, a cookie visible to scripts, or storage', async () => {
  const tokens = new Set(requests.map((r) => r.auth).filter(Boolean).map((a) => a.replace(/^Bearer /, '')));
  assert.ok(tokens.size >= 2, 'expected several access tokens over the session');
  for (const r of requests) for (const t of tokens) assert.ok(!r.url.includes(t), `token in ${r.url}`);
  const stored = await page.evaluate(() => JSON.stringify({ c: document.cookie, l: { ...localStorage }, s: { ...sessionStorage } }));
  for (const t of tokens) assert.ok(!stored.includes(t), 'token in script-visible storage');
  assert.doesNotMatch(stored, /ffr_/, 'refresh token visible to scripts');
});
