// Helpers for the realtime endpoints: an SSE client that records what it
// receives, stream tickets, and visits made through the worker protocol.
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { call, until } from './server.mjs';

/** A single-use stream ticket for path. */
export async function ticket(server, token, path) {
  const r = await call(server, 'POST', '/v1/stream-tickets', { token, body: { path } });
  if (r.status !== 201) throw new Error(`ticket ${path}: ${r.status} ${r.text}`);
  return r.json.ticket;
}

/**
 * An EventSource-like reader over node:http: every message (with its id and
 * parsed data) and every comment is kept; `closed` resolves when the server
 * ends the stream.
 */
export class SseClient {
  constructor(server, path, headers = {}) {
    this.messages = [];
    this.comments = [];
    this.raw = '';
    this.ended = false;
    this.opened = new Promise((resolve, reject) => {
      this.req = http.get(server.url + path, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
        this.status = res.statusCode;
        this.headers = res.headers;
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => { this.body = body; this.ended = true; resolve(this); });
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          this.raw += d;
          buffer += d;
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            this.parse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
          }
        });
        res.on('end', () => { this.ended = true; });
        res.on('error', () => { this.ended = true; });
        resolve(this);
      });
      this.req.on('error', (e) => { this.ended = true; this.error = e; reject(e); });
    });
  }

  parse(block) {
    const msg = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) msg.id = line.slice(4);
      else if (line.startsWith('data: ')) msg.data = JSON.parse(line.slice(6));
      else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
    }
    if (msg.data) this.messages.push(msg);
  }

  /** Messages of a type (or all). */
  of(type) { return this.messages.filter((m) => !type || m.data.type === type); }

  async waitFor(pred, what = 'a message', timeoutMs = 10000) {
    return until(() => this.messages.find(pred), timeoutMs, what);
  }

  close() { this.req.destroy(); }
}

/** Opens /v1/events with a fresh ticket (query is appended). */
export async function openEvents(server, token, query = '', headers = {}) {
  const t = await ticket(server, token, '/v1/events');
  const c = new SseClient(server, `/v1/events?ticket=${encodeURIComponent(t)}${query ? '&' + query : ''}`, headers);
  await c.opened;
  if (c.status === 200) await until(() => c.retry !== undefined, 5000, 'the stream to open');
  return c;
}

/** A small JPEG for crop_jpeg (made once per process). */
let cropB64;
export function crop(dir) {
  if (!cropB64) {
    const file = join(dir, 'crop.jpg');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=96x96', '-frames:v', '1', file]);
    cropB64 = readFileSync(file).toString('base64');
  }
  return cropB64;
}

/** A random face descriptor (a new person each time). */
export function person() {
  return Array.from({ length: 128 }, () => Number(((Math.random() - 0.5) * 0.3).toFixed(6)));
}

/** A face event as the worker sends it. */
export function faceEvent(server, cameraId, descriptor = person(), at = Date.now() - 1000) {
  return {
    id: randomUUID(), camera_id: cameraId, captured_at: new Date(at).toISOString(), descriptor,
    score: 0.95, quality: 0.9, box: { x: 10, y: 10, width: 80, height: 80 }, age: 30, gender: 'female',
    gender_probability: 0.9, staff_id: null, crop_jpeg: crop(server.dir),
  };
}

/** Posts events with a worker key; returns the results. */
export async function ingest(server, key, events) {
  const r = await call(server, 'POST', '/v1/worker/events', { token: key, body: { events } });
  if (r.status !== 200) throw new Error(`ingest: ${r.status} ${r.text}`);
  return r.json.results;
}

/** One metric's value from /metrics. */
export async function metric(server, name) {
  const m = await call(server, 'GET', '/metrics');
  const line = m.text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : undefined;
}
