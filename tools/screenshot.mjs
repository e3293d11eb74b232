#!/usr/bin/env node
// The README's screenshot, taken from the real product: `footfall demo` in a
// temporary folder (its demo camera made from the sample photos), left to
// run until the dashboard has visits, a returning visitor and staff passes,
// then Debian's Chromium signs in and photographs pages.
//
//   node tools/screenshot.mjs [--page dashboard|reports] [--out docs/screenshot.png]
//   node tools/screenshot.mjs --pages dashboard,reports,live,customers,visits,workers --out-dir docs/screenshots
//
// With --pages each page is saved as <out-dir>/<page>.jpg, 1280x800 (JPEG, so
// each stays small enough for the README).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, BIN, launchChromium, signIn, openPage, until } from '../tests/browser/lib.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((p, a, i, all) => (a.startsWith('--') ? [...p, [a.slice(2), all[i + 1]]] : p), []));
const out = args.out || join(ROOT, 'docs', 'screenshot.png');
const pageName = args.page || 'dashboard';
const many = args.pages ? args.pages.split(',') : null;
const outDir = args['out-dir'] || join(ROOT, 'docs', 'screenshots');
const LABELS = { dashboard: 'Dashboard', reports: 'Reports', live: 'Live view', customers: 'Customers', visits: 'Visits', workers: 'Workers', staff: 'Staff', cameras: 'Cameras' };
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
  if (!many) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await signIn(page, url, 'demo', password);
    if (pageName !== 'dashboard') await openPage(page, pageName[0].toUpperCase() + pageName.slice(1));
    await new Promise((r) => setTimeout(r, 30000)); // the live feed fills with the next passes
    await page.screenshot({ path: out });
    console.log(`screenshot: ${out}`);
  } else {
    mkdirSync(outDir, { recursive: true });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page, url, 'demo', password);
    await new Promise((r) => setTimeout(r, 30000)); // the live feed fills with the next passes
    for (const name of many) {
      if (!LABELS[name]) throw new Error(`no page ${name} (${Object.keys(LABELS).join(', ')})`);
      await openPage(page, LABELS[name]);
      await page.waitForLoadState('networkidle', { timeout: 10000 }).catch(() => undefined);
      if (name === 'customers') {
        // The profile of the most frequent visitor: visits, gallery, similar customers.
        const customers = (await (await fetch(`${url}/v1/customers?limit=200`, { headers: { Authorization: `Bearer ${token}` } })).json()).items;
        const top = customers.sort((a, b) => b.visit_count - a.visit_count)[0];
        await page.getByRole('button', { name: `Details of customer #${top.id}`, exact: true }).click();
        await page.getByTestId('customer-face').first().locator('img').waitFor({ timeout: 15000 }).catch(() => undefined);
      }
      const file = join(outDir, `${name}.jpg`);
      if (name === 'live') {
        // One camera, large, with the worker's face boxes; of 40 frames a second
        // apart keep the one with most detail (someone at the door, not the empty door).
        await page.getByText('1', { exact: true }).click();
        await page.getByRole('switch', { name: 'Face boxes' }).click();
        await page.locator('img[data-playing="1"]').first().waitFor({ timeout: 20000 }).catch(() => undefined);
        let best = null;
        for (let i = 0; i < 40; i++) {
          const shot = await page.screenshot({ type: 'jpeg', quality: 80 });
          if (!best || shot.length > best.length) best = shot;
          await new Promise((r) => setTimeout(r, 1000));
        }
        writeFileSync(file, best);
      } else {
        await new Promise((r) => setTimeout(r, 2000)); // charts and pictures settle
        await page.screenshot({ path: file, type: 'jpeg', quality: 80 });
      }
      console.log(`screenshot: ${file}`);
      if (name === 'customers') await page.keyboard.press('Escape');
    }
  }
  await browser.close();
} finally {
  demo.kill('SIGTERM');
  await new Promise((r) => demo.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
