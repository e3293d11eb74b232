// A real `footfall worker` process for integration tests, talking to a test
// server: started with a short heartbeat and drain, its log kept, its own
// endpoint read for status.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BIN, until } from './server.mjs';

export const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

export const HB = 500; // the real workers' heartbeat interval (ms)

export class RealWorker {
  constructor(dir, name, server, key, extra = []) {
    this.dir = dir; this.name = name; this.server = server; this.key = key; this.extra = extra;
    this.state = join(dir, `state-${name}`);
    this.log = '';
  }
  async start() {
    this.port = this.port || await freePort();
    this.log = '';
    this.proc = spawn(BIN, ['worker', '--server-url', this.server.url, '--worker-api-key', this.key,
      '--state-dir', this.state, '--device-lock-dir', join(this.dir, 'locks'), '--endpoint-port', String(this.port),
      '--heartbeat-interval-ms', String(HB), '--inference-threads', '1', '--sample-fps', '1', '--worker-name', this.name,
      '--upload-timeout-ms', '2000', '--drain-ms', '500', ...this.extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    this.proc.stdout.on('data', (d) => { this.log += d; });
    this.proc.stderr.on('data', (d) => { this.log += d; this.all = (this.all || '') + d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve(code ?? signal)));
    const m = await until(() => this.log.match(/worker_id=([0-9a-f-]{36})/) || (this.proc.exitCode !== null && 'exit'), 30000, `${this.name} to start`);
    if (m === 'exit') throw new Error(`${this.name} exited: ${this.log}`);
    this.uuid = m[1];
    return this;
  }
  /** The worker's own view: GET /status on its endpoint. */
  async status() {
    const secret = readFileSync(join(this.state, 'endpoint.secret'), 'utf8').trim();
    const r = await fetch(`http://127.0.0.1:${this.port}/status`, { headers: { Authorization: `Bearer ${secret}` } });
    return r.json();
  }
  running = async () => (await this.status()).cameras.map((c) => c.id).sort((a, b) => a - b);
  kill(signal = 'SIGKILL') { if (this.proc && this.proc.exitCode === null) this.proc.kill(signal); return this.exited; }
  /** SIGTERM; resolves to {code, ms} once the process is gone (SIGKILL and 'timeout' after 60 s). */
  async stop() {
    const t0 = Date.now();
    this.proc.kill('SIGTERM');
    let timer; // cleared: a pending 60 s timer would keep the test file running for a minute after its last test
    const code = await Promise.race([this.exited, new Promise((r) => { timer = setTimeout(() => r('timeout'), 60000); })]);
    clearTimeout(timer);
    if (code === 'timeout') this.proc.kill('SIGKILL');
    return { code, ms: Date.now() - t0 };
  }
  /** Ids of the events this run put in its outbox (from its log). */
  events() { return [...this.log.matchAll(/event=pipeline\.event .*? event=([0-9a-f-]{36})/g)].map((m) => m[1]); }
}
