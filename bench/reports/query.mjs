// Drives the report endpoints for bench/reports/run.sh: for each case, ROUNDS
// requests with ranges drawn (seeded) inside the data's two years, one at a
// time, timing each; then CSV exports of growing ranges while reading the
// server's peak RSS. Prints one JSON object.
// usage: node query.mjs URL TOKEN SERVER_PID FIRST_DAY(YYYY-MM-DD) DAYS ROUNDS CASES_JSON
import { readFileSync } from 'node:fs';

const [url, token, pid, firstDay, days, rounds, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson);
let seed = 12345;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const day0 = Date.parse(`${firstDay}T00:00:00Z`);
const iso = (ms) => new Date(ms).toISOString().slice(0, 10);

async function get(path, accept) {
  const t0 = process.hrtime.bigint();
  const r = await fetch(url + path, { headers: { Authorization: `Bearer ${token}`, ...(accept ? { Accept: accept } : {}) } });
  const body = await r.text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${body.slice(0, 200)}`);
  return { ms, bytes: body.length };
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; };
const rss = () => Object.fromEntries(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')
  .filter((l) => /^Vm(HWM|RSS):/.test(l)).map((l) => [l.split(':')[0], Number(l.split(/\s+/)[1]) / 1024]));

const out = { cases: [], ranges: {}, csv: [] };
for (const c of cases) {
  const lat = [], ranges = [];
  for (let i = 0; i < Number(rounds); i++) {
    const start = Math.floor(rnd() * (Number(days) - c.days - 7)) + 7; // leave a week for the look-back edge
    const from = iso(day0 + start * 86400000), to = iso(day0 + (start + c.days - 1) * 86400000);
    ranges.push([from, to]);
    const q = new URLSearchParams({ from, to, ...(c.query || {}) });
    if (i === 0) await get(`/v1/reports/${c.report}?${q}`); // warm the statement caches
    lat.push((await get(`/v1/reports/${c.report}?${q}`)).ms);
  }
  out.ranges[c.name] = ranges;
  out.cases.push({ name: c.name, p50: pct(lat, 0.5), p95: pct(lat, 0.95), max: Math.max(...lat) });
}
// CSV exports: the longest day series over growing ranges; peak RSS after each.
for (const [days, granularity] of [[31, 'hour'], [30, 'day'], [182, 'day'], [365, 'day'], [732, 'day']]) {
  const from = iso(day0), to = iso(day0 + (days - 1) * 86400000);
  const r = await get(`/v1/reports/series?${new URLSearchParams({ from, to, granularity })}`, 'text/csv');
  out.csv.push({ days, granularity, ms: r.ms, bytes: r.bytes, ...rss() });
}
console.log(JSON.stringify(out));
