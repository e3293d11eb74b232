// Fleet load on one running server, bounded and on loopback: W simulated
// workers register and heartbeat every INTERVAL ms, C Server-Sent Events
// clients read /v1/events, and uploaders post face events at R events/s, for
// S seconds. Prints JSON: heartbeat and event-batch latency percentiles,
// errors, SSE messages received and clients cut off. First an anchor: the
// same heartbeats with nothing else running.
// usage: node load.mjs URL ADMIN_PASSWORD WORKERS SSE_CLIENTS EVENTS_PER_S SECONDS INTERVAL_MS
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, adminPassword, W, C, R, S, INTERVAL] = process.argv.slice(2).map((v, i) => (i < 2 ? v : Number(v)));
const TENANTS = 10, SITES = 5;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(method, path, token, body) {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const t0 = performance.now();
    const req = http.request(`${url}${path}`, { method, agent, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, json, text, ms: performance.now() - t0 });
      });
    });
    req.on('error', (e) => resolve({ status: 0, text: String(e), ms: performance.now() - t0 }));
    req.end(payload);
  });
}
const must = async (p, want = 201) => { const r = await p; if (r.status !== want) throw new Error(`${r.status} ${r.text}`); return r.json; };
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] : 0; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The world: 10 tenants x 5 sites, a camera and a worker key per site, a
// viewer per tenant.
const sys = (await must(call('POST', '/v1/auth/login', null, { username: 'admin', password: adminPassword }), 200)).access_token;
const sites = [], viewers = [];
for (let t = 0; t < TENANTS; t++) {
  const tenant = await must(call('POST', '/v1/tenants', sys, { name: `Chain ${t}` }));
  for (let s = 0; s < SITES; s++) {
    const site = await must(call('POST', '/v1/sites', sys, { name: `Store ${t}.${s}`, timezone: 'Europe/Berlin', tenant_id: tenant.id }));
    const camera = await must(call('POST', '/v1/cameras', sys, { site_id: site.id, name: 'door', kind: 'rtsp', url: 'rtsp://10.0.0.1/s' }));
    const key = (await must(call('POST', '/v1/api-keys', sys, { name: 'pc', tenant_id: tenant.id, site_id: site.id }))).secret;
    sites.push({ camera: camera.id, key });
  }
  await must(call('POST', '/v1/users', sys, { username: `viewer${t}`, password: 'viewer-password-1', role: 'viewer', tenant_id: tenant.id }));
  viewers.push((await must(call('POST', '/v1/auth/login', null, { username: `viewer${t}`, password: 'viewer-password-1' }), 200)).access_token);
}
const workers = Array.from({ length: W }, (_, i) => ({ uuid: randomUUID(), site: sites[i % sites.length] }));
for (const w of workers)
  await must(call('POST', '/v1/worker/register', w.site.key, { worker_id: w.uuid, heartbeat_interval_ms: INTERVAL,
    capabilities: { max_cameras: 4 } }), 200);

const hb = { latencies: [], errors: 0 };
async function heartbeats(until) {
  await Promise.all(workers.map(async (w, i) => {
    await sleep((i * INTERVAL) / W); // spread over the interval
    while (Date.now() < until) {
      const t = Date.now();
      const r = await call('POST', '/v1/worker/heartbeat', w.site.key, { worker_id: w.uuid, status: 'processing',
        cameras: [{ id: w.site.camera, state: 'streaming', frames_in: 1000, processed: 200, skipped: 0, faces: 10, events: 2 }] });
      if (r.status !== 200) hb.errors++;
      hb.latencies.push(r.ms);
      await sleep(Math.max(0, INTERVAL - (Date.now() - t)));
    }
  }));
}

// Anchor: heartbeats alone.
await heartbeats(Date.now() + 10000);
const anchor = { p50: pct(hb.latencies, 50), p99: pct(hb.latencies, 99), count: hb.latencies.length, errors: hb.errors };
hb.latencies = []; hb.errors = 0;

// SSE clients (one ticket each), reading everything.
const sse = { messages: 0, cut: 0, failed: 0 };
const streams = [], reqs = [];
for (let i = 0; i < C; i++) {
  const token = viewers[i % viewers.length];
  const ticket = (await must(call('POST', '/v1/stream-tickets', token, { path: '/v1/events' }))).ticket;
  streams.push(new Promise((resolve) => {
    const req = http.get(`${url}/v1/events?ticket=${encodeURIComponent(ticket)}`, (res) => {
      if (res.statusCode !== 200) { sse.failed++; res.resume(); resolve(); return; }
      res.setEncoding('utf8');
      res.on('data', (d) => { sse.messages += (d.match(/\ndata: /g) || []).length + (d.startsWith('data: ') ? 1 : 0); });
      res.on('end', () => { if (!req.closing) sse.cut++; resolve(); });
      res.on('error', () => resolve());
    });
    req.on('error', () => { if (!req.closing) sse.failed++; resolve(); });
    reqs.push(req);
  }));
}

// Events: batches of 25 from every site in turn, at R events/s in total.
const crop = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=s=112x112', '-frames:v', '1', join(dir, 'c.jpg')]);
  return readFileSync(join(dir, 'c.jpg')).toString('base64');
})();
const ev = { latencies: [], errors: 0, events: 0 };
const people = Array.from({ length: 2000 }, () => Array.from({ length: 128 }, () => (Math.random() - 0.5) * 0.25));
async function events(until) {
  const BATCH = 25, every = (1000 * BATCH) / R;
  let n = 0;
  const inflight = [];
  for (let next = Date.now(); Date.now() < until; next += every) {
    await sleep(Math.max(0, next - Date.now()));
    const site = sites[n++ % sites.length];
    const batch = Array.from({ length: BATCH }, (_, k) => ({
      id: randomUUID(), camera_id: site.camera, captured_at: new Date(Date.now() - 1000).toISOString(),
      descriptor: people[(n * BATCH + k) % people.length].map((x) => x + (Math.random() - 0.5) * 0.01),
      score: 0.9, quality: 0.8, box: { x: 10, y: 10, width: 120, height: 140 }, age: 30, gender: 'female',
      gender_probability: 0.9, staff_id: null, crop_jpeg: crop }));
    inflight.push(call('POST', '/v1/worker/events', site.key, { events: batch }).then((r) => {
      ev.latencies.push(r.ms);
      if (r.status !== 200) ev.errors++; else ev.events += BATCH;
    }));
  }
  await Promise.all(inflight);
}

const until = Date.now() + S * 1000;
await Promise.all([heartbeats(until), events(until)]);
await sleep(1000);
for (const q of reqs) { q.closing = true; q.destroy(); }
console.log(JSON.stringify({
  anchor, heartbeats: { p50: pct(hb.latencies, 50), p99: pct(hb.latencies, 99), count: hb.latencies.length, errors: hb.errors },
  events: { per_s: ev.events / S, p50: pct(ev.latencies, 50), p99: pct(ev.latencies, 99), errors: ev.errors },
  sse,
}));
process.exit(0);
