// Ingestion load: posts batches of face events to a running server for a
// bounded time, from N concurrent "workers", and prints events/s and batch
// latency percentiles as JSON. Loopback only; bounded in count and time.
// usage: node load.mjs URL KEY CAMERA_ID SECONDS CONCURRENCY BATCH CROP_FILE SEED_FILE
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

const [url, key, camera, seconds, concurrency, batchSize, cropFile, seedFile] = process.argv.slice(2);
const crop = readFileSync(cropFile).toString('base64');
// Descriptors of known customers (so most events match) plus fresh ones.
const known = JSON.parse(readFileSync(seedFile, 'utf8'));
const deadline = Date.now() + Number(seconds) * 1000;
const latencies = [];
let events = 0, errors = 0, outcomes = {};

function descriptor(i) {
  if (i % 4 !== 0) {
    const base = known[i % known.length];
    return base.map((x) => x + (Math.random() - 0.5) * 0.01);
  }
  return Array.from({ length: 128 }, () => (Math.random() - 0.5) * 0.25);
}

async function worker(w) {
  let i = w * 1e6;
  while (Date.now() < deadline) {
    const batch = [];
    for (let k = 0; k < Number(batchSize); k++, i++)
      batch.push({
        id: randomUUID(), camera_id: Number(camera), captured_at: new Date(Date.now() - 1000).toISOString(),
        descriptor: descriptor(i), score: 0.9, quality: 0.8, box: { x: 10, y: 10, width: 120, height: 140 },
        age: 30, gender: 'female', gender_probability: 0.9, staff_id: null, crop_jpeg: crop,
      });
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/worker/events`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ events: batch }) });
    const body = await r.json();
    latencies.push(performance.now() - t0);
    if (r.status !== 200) { errors++; continue; }
    for (const res of body.results) outcomes[res.outcome] = (outcomes[res.outcome] || 0) + 1;
    events += batch.length;
  }
}

const started = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, (_, w) => worker(w)));
const elapsed = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
console.log(JSON.stringify({ events, seconds: elapsed, events_per_s: events / elapsed, batches: latencies.length,
  p50_ms: pct(0.5), p99_ms: pct(0.99), errors, outcomes }));
