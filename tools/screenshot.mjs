#!/usr/bin/env node
// The README's screenshot, taken from the real product: `footfall demo` in a
// temporary folder (its demo camera made from the sample photos), left to
// run until the dashboard has visits, a returning visitor and staff passes,
// then Debian's Chromium signs in and photographs a page.
//
//   node tools/screenshot.mjs [--page dashboard|reports] [--out docs/screenshot.png]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, BIN, launchChromium, signIn, openPage, until } from '../tests/browser/lib.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((p, a, i, all) => (a.startsWith('--') ? [...p, [a.slice(2), all[i + 1]]] : p), []));
const out = args.out || join(ROOT, 'docs', 'screenshot.png');
const pageName = args.page || 'dashboard';
const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const dir = mkdtempSync(join(tmpdir(), 'footfall-shot-'));
const models = join(ROOT, 'data', 'models');
execFileSync('node', [join(ROOT, 'tools', 'demo-video.mjs'), '--footfall', BIN, '--samples', join(ROOT, 'data', 'samples'),
  '--models', models, '--out', join(dir, 'camera')], { stdio: 'inherit' });
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const demo = spawn(BIN, ['demo', '--data-dir', join(dir, 'data'), '--port', String(port), '--demo-worker-port', String(await freePort()),
  '--demo-camera-dir', join(dir, 'camera'), '--models-dir', models, '--web-dir', join(ROOT, 'web', 'dist')], { stdio: ['ignore', 'pipe', 'inherit'] });
let text = '';
demo.stdout.on('data', (d) => { text += d; });
try {
  const password = await until(() => (text.match(/username: demo\s+password: (\S+)/) || [])[1], 120000, 'the demo set-up');
  const token = (await (await fetch(`${url}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'demo', password }) })).json()).access_token;
  await until(async () => {
    const customers = (await (await fetch(`${url}/v1/customers?limit=100`, { headers: { Authorization: `Bearer ${token}` } })).json()).items;
    return customers.some((c) => c.visit_count >= 2) && customers.length >= 5;
  }, 240000, 'a returning visitor');
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await signIn(page, url, 'demo', password);
  if (pageName !== 'dashboard') await openPage(page, pageName[0].toUpperCase() + pageName.slice(1));
  await new Promise((r) => setTimeout(r, 30000)); // the live feed fills with the next passes
  await page.screenshot({ path: out });
  await browser.close();
  console.log(`screenshot: ${out}`);
} finally {
  demo.kill('SIGTERM');
  await new Promise((r) => demo.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
