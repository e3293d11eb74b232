// Shared by the browser tests: the real `footfall` binary with a seeded
// database and the built dashboard, and Debian's Chromium driven by
// playwright-core (installed in web/; it never downloads a browser).
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.FOOTFALL_BIN || join(ROOT, 'build', 'footfall');
export const WEB_DIR = process.env.FOOTFALL_WEB_DIR || join(ROOT, 'web', 'dist');
export const ARTIFACTS = process.env.FOOTFALL_ARTIFACTS || join(ROOT, 'tests', 'artifacts', 'browser');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const MODELS_DIR = process.env.FOOTFALL_MODELS_DIR || join(ROOT, 'data', 'models');
export const SHARED_DATA = process.env.FOOTFALL_SHARED_DATA || join(ROOT, '..', 'shared', 'data');

/** Waits until fn() returns truthy; throws after timeoutMs. */
export async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function checkPrerequisites() {
  const missing = [];
  if (!existsSync(BIN)) missing.push(`the server binary ${BIN} (set FOOTFALL_BIN)`);
  if (!existsSync(join(WEB_DIR, 'index.html'))) missing.push(`the built dashboard ${WEB_DIR} (npm --prefix web run build)`);
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  if (!existsSync(join(ROOT, 'web', 'node_modules', 'playwright-core'))) missing.push('web/node_modules/playwright-core (npm --prefix web ci)');
  if (missing.length) throw new Error(`missing: ${missing.join('; ')}`);
}

/** A temporary data folder, seeded through `footfall admin`, and a server on it. */
export class Server {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'footfall-browser-'));
    this.adminPassword = 'admin-browser-' + process.pid;
    this.out = '';
    this.err = '';
  }

  admin(task, ...args) {
    const out = execFileSync(BIN, ['admin', task, ...args, '--data-dir', this.dir], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop());
  }

  async start(extraArgs = []) {
    this.proc = spawn(BIN, ['server', '--port', '0', '--data-dir', this.dir, '--admin-password', this.adminPassword,
      '--web-dir', WEB_DIR, '--log-level', 'warn', ...(existsSync(MODELS_DIR) ? ['--models-dir', MODELS_DIR] : []), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.out += d; });
    this.proc.stderr.on('data', (d) => { this.err += d; });
    this.exited = new Promise((r) => this.proc.on('exit', (code, signal) => r({ code, signal })));
    const m = await until(() => this.out.match(/running at (http:\/\/127\.0\.0\.1:\d+)\//) || (this.proc.exitCode !== null && 'exit'),
      20000, 'the server to listen');
    if (m === 'exit') throw new Error(`the server exited: ${this.err}`);
    this.url = m[1];
    return this;
  }

  /** Calls the API directly (to check what the browser did), as `user`. */
  async api(method, path, { token, body } = {}) {
    const res = await fetch(this.url + path, {
      method,
      headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  }

  async token(username, password) {
    const r = await this.api('POST', '/v1/auth/login', { body: { username, password } });
    if (r.status !== 200) throw new Error(`login ${username}: ${JSON.stringify(r.body)}`);
    return r.body.access_token;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGTERM');
    const r = await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`the server exited with ${r.code ?? r.signal}: ${this.err.slice(-2000)}`);
  }
}

export async function launchChromium(extraArgs = []) {
  const require = createRequire(join(ROOT, 'web', 'package.json'));
  const { chromium } = require('playwright-core');
  // playwright-core gives every launch a fresh temporary --user-data-dir (it
  // refuses one in `args`) and removes it on close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...extraArgs],
  });
  return browser;
}

/** Removes screenshots of failures left by an earlier run. */
export function clearFailedShots() {
  if (!existsSync(ARTIFACTS)) return;
  for (const f of readdirSync(ARTIFACTS)) if (f.startsWith('FAILED-')) rmSync(join(ARTIFACTS, f));
}

/** Saves a full-page screenshot as tests/artifacts/browser/<name>.png. */
export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  // Let enter/leave motions end first (a dialog zooming in would be caught invisible).
  await page.waitForFunction(() => !document.querySelector('[class*="-appear"], [class*="-enter"], [class*="-leave"]'), null,
    { timeout: 3000 }).catch(() => undefined);
  // A drawer or dialog covers the viewport only: a full-page picture would show
  // it cut off above the rest of the page, so those are taken as the user sees them.
  const overlay = await page.locator('.ant-drawer-open, .ant-modal-wrap:visible').count().catch(() => 0);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: overlay === 0, animations: 'disabled' });
}

/** Console errors and uncaught exceptions of a page (CSP refusals show up here). */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // Answers like 401/409 are logged by Chromium itself; the tests check those answers.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return errors;
}

/**
 * Face events as a worker sends them (POST /v1/worker/events with a worker
 * key): `person(n)` is a fixed pseudo-random descriptor per person, so the
 * server recognises the same n as the same customer.
 */
export function person(n) {
  let x = 7 + n * 7919;
  return Array.from({ length: 128 }, () => { x = (x * 16807) % 2147483647; return (x / 2147483647 - 0.5) * 0.3; });
}

export function faceEvent({ camera, descriptor, at, age = 34, gender = 'female', crop }) {
  return { id: randomUUID(), camera_id: camera, captured_at: new Date(at).toISOString(), descriptor, score: 0.95, quality: 0.9,
    box: { x: 75, y: 70, width: 130, height: 160 }, age, gender, gender_probability: 0.9, ...(crop ? { crop_jpeg: crop } : {}) };
}

/** Sends events as the worker key and returns the per-event results (all must be new visits or extensions). */
export async function sendEvents(srv, key, events) {
  const r = await srv.api('POST', '/v1/worker/events', { token: key, body: { events } });
  if (r.status !== 200) throw new Error(`events: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  const bad = r.body.results.filter((x) => x.outcome !== 'new_visit' && x.outcome !== 'visit_extended');
  if (bad.length) throw new Error(`events refused: ${JSON.stringify(bad).slice(0, 500)}`);
  return r.body.results;
}

/** A local date (YYYY-MM-DD) `daysAgo` days before now, in UTC (the tests' browser runs in UTC). */
export function utcDate(daysAgo = 0) {
  return new Date(Date.now() - daysAgo * 86400000).toISOString().slice(0, 10);
}

/** A node:test test that leaves a screenshot of `getPage()` when it fails. */
export function stepper(test, getPage) {
  return (name, fn, opts = {}) => test(name, opts, async () => {
    try {
      await fn();
    } catch (e) {
      const p = getPage();
      if (p) await shot(p, `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => undefined);
      if (e && typeof e.message === 'string' && e.message.length > 2000) e.message = e.message.slice(0, 2000) + '…';
      throw e;
    }
  });
}

/** Opens the sign-in page and signs in; resolves when the dashboard home shows. */
export async function signIn(page, url, username, password, timeout = 15000) {
  await page.goto(url + '/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('menu').waitFor({ timeout });
}

/** Clicks a menu entry and waits for its page heading. */
export async function openPage(page, label, timeout = 15000) {
  await page.getByRole('menu').getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { name: label, exact: true }).waitFor({ timeout });
  await page.locator('.ant-spin-spinning').first().waitFor({ state: 'detached', timeout }).catch(() => undefined);
}

/** A small JPEG (ffmpeg's test pattern) as base64, for events' crop_jpeg. */
export function testCrop(dir) {
  const file = join(dir, 'test-crop.jpg');
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=200x200', '-frames:v', '1', file]);
  return readFileSync(file).toString('base64');
}
