// The first load (the login page and the dashboard home) must stay under
// 400 KB of gzipped JavaScript: the entry chunk and everything it imports
// statically. Pages behind lazy routes load when opened and do not count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { WEB_DIR } from './lib.mjs';

const BUDGET = 400 * 1024;

test('first-load JavaScript stays under 400 KB gzipped', () => {
  const manifestFile = join(WEB_DIR, '.vite', 'manifest.json');
  assert.ok(existsSync(manifestFile), `no ${manifestFile}: build the dashboard first (npm --prefix web run build)`);
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  const entry = Object.entries(manifest).find(([, c]) => c.isEntry);
  assert.ok(entry, 'the manifest has no entry chunk');
  const seen = new Set();
  const walk = (key) => {
    if (seen.has(key)) return;
    seen.add(key);
    for (const k of manifest[key].imports ?? []) walk(k);
  };
  walk(entry[0]);
  let total = 0;
  const sizes = [];
  for (const key of seen) {
    const file = manifest[key].file;
    const gz = gzipSync(readFileSync(join(WEB_DIR, file)), { level: 9 }).length;
    sizes.push(`${file} ${(gz / 1024).toFixed(1)} KB`);
    total += gz;
  }
  console.log(`first load: ${(total / 1024).toFixed(1)} KB gzipped of ${BUDGET / 1024} KB (${sizes.join(', ')})`);
  assert.ok(total < BUDGET, `first load is ${(total / 1024).toFixed(1)} KB gzipped, over the ${BUDGET / 1024} KB budget`);
  // The dashboard home is part of that first load, not a lazy chunk.
  assert.ok(!Object.keys(manifest).some((k) => k.includes('DashboardPage') && manifest[k].isDynamicEntry), 'the dashboard home is lazy-loaded');
});

test('index.html loads only files the build produced', () => {
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.some((r) => r.startsWith('/assets/') && r.endsWith('.js')), 'no script in index.html');
  for (const r of refs) assert.ok(existsSync(join(WEB_DIR, r)), `index.html refers to a missing ${r}`);
  // The server's Content-Security-Policy allows no inline script.
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'inline <script> in index.html');
});
