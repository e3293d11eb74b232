// Starts the real `footfall server` binary for a test, on 127.0.0.1 with a
// free port, against SQLite (a temp folder) or a fresh database on the test
// PostgreSQL (CTest fixture `postgres`). Every test file gets its own server.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, mkdirSync, writeFileSync, utimesSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomBytes, createHash, createHmac } from 'node:crypto';

export const BIN = process.env.FOOTFALL_BIN;
export const DB = process.env.FOOTFALL_TEST_DB || 'sqlite';
/** Where pictures go: 'folder' (default) or 's3' (the s3rver CTest fixture). */
export const STORE = process.env.FOOTFALL_TEST_STORE || 'folder';
const S3_KEYS = 'S3RVER';
if (!BIN) throw new Error('FOOTFALL_BIN is not set (run through ctest)');

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A new, empty PostgreSQL database on the fixture server; returns its URL. */
function freshPostgres() {
  const file = process.env.FOOTFALL_PG_URL_FILE;
  if (!file || !existsSync(file)) throw new Error('the postgres fixture is not running');
  const base = new URL(readFileSync(file, 'utf8').trim());
  const name = `t_${process.pid}_${randomBytes(4).toString('hex')}`;
  execFileSync(`${PG_BIN}/createdb`, ['-h', base.hostname, '-p', base.port, '-U', 'postgres', name]);
  base.pathname = `/${name}`;
  return base.toString();
}

/** Waits until fn() returns truthy, polling; throws after timeoutMs. */
export async function until(fn, timeoutMs = 10000, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export class Server {
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = mkdtempSync(join(tmpdir(), 'footfall-it-'));
    this.jwtSecret = randomBytes(24).toString('hex');
    this.adminPassword = 'admin-' + randomBytes(8).toString('hex');
    this.databaseUrl = opts.databaseUrl || (DB === 'postgres' ? freshPostgres() : `sqlite:${this.dir}/footfall.db`);
    this.stdout = '';
    this.stderr = '';
    if (STORE === 's3') {
      const file = process.env.FOOTFALL_S3_ENDPOINT_FILE;
      if (!file || !existsSync(file)) throw new Error('the s3 fixture is not running');
      this.s3Endpoint = readFileSync(file, 'utf8').trim();
      // A bucket of its own (made now, empty), so a retention pass over the
      // whole store sees only this server's pictures; servers that share a
      // database share their bucket (opts.bucket).
      this.bucket = opts.bucket || `footfall-${randomBytes(6).toString('hex')}`;
      if (!opts.bucket)
        execFileSync('curl', ['-sf', '-X', 'PUT', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${S3_KEYS}:${S3_KEYS}`,
          '-H', 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          `${this.s3Endpoint}/${this.bucket}`]);
    }
  }

  storeArgs() {
    return STORE === 's3'
      ? ['--store-url', `s3://${this.bucket}`, '--s3-endpoint', this.s3Endpoint, '--s3-region', 'us-east-1',
        '--s3-access-key', S3_KEYS, '--s3-secret-key', S3_KEYS]
      : [];
  }

  /** Every picture key under prefix, in the folder or the bucket (signed S3 listing). */
  listPictures(prefix) {
    if (STORE !== 's3') {
      const root = join(this.dir, 'pictures', prefix);
      if (!existsSync(root)) return [];
      return readdirSync(root, { recursive: true }).filter((f) => f.endsWith('.jpg') || f.endsWith('.png'))
        .map((f) => prefix + f.replaceAll('\\', '/')).sort();
    }
    const keys = [];
    let token = null;
    do {
      const q = new URLSearchParams({ 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) });
      const xml = execFileSync('curl', ['-sf', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${S3_KEYS}:${S3_KEYS}`,
        '-H', 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', // empty body
        `${this.s3Endpoint}/${this.bucket}?${q}`], { encoding: 'utf8' });
      for (const m of xml.matchAll(/<Key>([^<]+)<\/Key>/g)) keys.push(m[1]);
      token = (xml.match(/<NextContinuationToken>([^<]+)<\/NextContinuationToken>/) || [])[1] || null;
    } while (token);
    return keys.sort();
  }

  /** Writes an object straight into the folder or the bucket, behind the server's back. */
  putPicture(key, bytes, mtimeMs) {
    if (STORE !== 's3') {
      const file = join(this.dir, 'pictures', key);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, bytes);
      if (mtimeMs) utimesSync(file, mtimeMs / 1000, mtimeMs / 1000);
      return;
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    execFileSync('curl', ['-sf', '-X', 'PUT', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${S3_KEYS}:${S3_KEYS}`,
      '-H', `x-amz-content-sha256: ${sha}`, '-H', 'Content-Type: image/jpeg', '--data-binary', '@-',
      `${this.s3Endpoint}/${this.bucket}/${key}`], { input: bytes });
  }

  /** Deletes an object straight from the folder or the bucket. */
  deletePicture(key) {
    if (STORE !== 's3') return unlinkSync(join(this.dir, 'pictures', key));
    execFileSync('curl', ['-sf', '-X', 'DELETE', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${S3_KEYS}:${S3_KEYS}`,
      '-H', 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      `${this.s3Endpoint}/${this.bucket}/${key}`]);
  }

  async start(extraArgs = []) {
    const args = ['server', '--port', '0', '--data-dir', this.dir, '--database-url', this.databaseUrl,
      ...(this.opts.generatedKeys ? [] : ['--jwt-secret', this.jwtSecret]), ...(this.opts.generatedAdmin ? [] : ['--admin-password', this.adminPassword]),
      '--web-dir', this.opts.webDir || join(this.dir, 'no-web'), ...this.storeArgs(), ...(this.opts.args || []), ...extraArgs];
    this.stdout = '';
    this.killed = false;
    this.proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(this.opts.env || {}) } });
    this.proc.stdout.on('data', (d) => { this.stdout += d; });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const m = await until(() => this.stdout.match(/running at http:\/\/[^:]+:(\d+)\//) ||
      (this.proc.exitCode !== null && 'exit'), 20000, 'the server to listen');
    if (m === 'exit') throw new Error(`server exited: ${this.stderr}`);
    this.port = Number(m[1]);
    this.url = `http://127.0.0.1:${this.port}`;
    const printed = this.stdout.match(/First start: a system admin was created\.\n\s+username: \S+\n\s+password: (\S+)/);
    if (this.opts.generatedAdmin && printed) this.adminPassword = printed[1];
    return this;
  }

  /**
   * SIGTERM and wait for the exit, which must be clean: status 0 and no
   * sanitizer report (in the ASan + UBSan build a leak or undefined
   * behaviour in the server fails the test that ran it).
   */
  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const result = await this.exited;
    if (!this.killed) {
      const report = this.stderr.match(/^.*(ERROR: \w+Sanitizer|runtime error:).*$/m);
      if (report) throw new Error(`the server reported: ${report[0]}\n${this.stderr.slice(-4000)}`);
      if (result.code !== 0) throw new Error(`the server exited with ${result.code ?? result.signal}\n${this.stderr.slice(-2000)}`);
    }
    return result;
  }

  async kill() {
    this.killed = true;
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
    return this.exited;
  }

  cleanup() { rmSync(this.dir, { recursive: true, force: true }); }

  /** An HS256 token signed with the server's key, with any claims. */
  forgeToken(claims, secret = this.jwtSecret) {
    const b64 = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64({ iss: 'footfall', aud: 'footfall-api', iat: Math.floor(Date.now() / 1000), ...claims });
    const key = createHash('sha256').update(secret).digest();
    const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
    return `${head}.${body}.${sig}`;
  }

  /** Runs one SQL query directly on the server's database (sqlite3 / psql); rows as text. */
  sql(query) {
    if (this.databaseUrl.startsWith('sqlite:'))
      return execFileSync('sqlite3', [this.databaseUrl.slice(7), query], { encoding: 'utf8' });
    const u = new URL(this.databaseUrl);
    return execFileSync('psql', ['-h', u.hostname, '-p', u.port, '-U', 'postgres', '-d', u.pathname.slice(1), '-At', '-c', query], { encoding: 'utf8' });
  }

  /** Runs `footfall admin ...` against this server's database. */
  admin(...args) {
    const out = execFileSync(BIN, ['admin', ...args, '--data-dir', this.dir, '--database-url', this.databaseUrl], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop());
  }
}

/** One HTTP call; returns {status, headers, json, text}. */
export async function call(server, method, path, { token, body, headers = {}, rawBody } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload = rawBody;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = 'application/json';
  }
  const res = await fetch(server.url + path, { method, headers: h, body: payload });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, json, text };
}

/** Signs in and returns the session JSON. */
export async function login(server, username, password) {
  const r = await call(server, 'POST', '/v1/auth/login', { body: { username, password } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
  return r.json;
}

/**
 * A small world of two tenants, each with two sites, a tenant admin, a site
 * manager and viewers, and a worker key; returns tokens and ids.
 */
export async function seedWorld(server) {
  const root = await login(server, 'admin', server.adminPassword);
  const sys = root.access_token;
  const w = { sys, tenants: [] };
  for (const t of ['Alpha Cafés', 'Beta Bakeries']) {
    const tenant = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name: t } })).json;
    const sites = [];
    for (const s of ['North', 'South']) {
      const r = await call(server, 'POST', '/v1/sites', { token: sys, body: { name: s, timezone: 'Europe/Paris', tenant_id: tenant.id } });
      if (r.status !== 201) throw new Error(`site: ${r.status} ${r.text}`);
      sites.push(r.json);
    }
    const slug = t[0].toLowerCase();
    const pw = 'password-' + slug + '-123';
    const mk = async (username, role, site_id) => {
      const r = await call(server, 'POST', '/v1/users', { token: sys, body: { username, password: pw, role, tenant_id: tenant.id, site_id } });
      if (r.status !== 201) throw new Error(`user ${username}: ${r.status} ${r.text}`);
      return { ...r.json, token: (await login(server, username, pw)).access_token, password: pw };
    };
    const admin = await mk(`${slug}-admin`, 'tenant_admin');
    const manager = await mk(`${slug}-manager`, 'site_manager', sites[0].id);
    const viewer = await mk(`${slug}-viewer`, 'viewer');
    const siteViewer = await mk(`${slug}-site-viewer`, 'viewer', sites[1].id);
    const key = (await call(server, 'POST', '/v1/api-keys', { token: admin.token, body: { name: 'store pc', site_id: sites[0].id } })).json;
    w.tenants.push({ tenant, sites, admin, manager, viewer, siteViewer, key });
  }
  return w;
}

/**
 * A tenant made by the system admin for recognition tests: one site in
 * Europe/Paris, a tenant admin (token), a worker key bound to the site and
 * one RTSP camera per name; returns {tenant, site, token, key, cameras}.
 */
export async function recognitionTenant(server, sys, name, cameraNames = ['door']) {
  const t = (await call(server, 'POST', '/v1/tenants', { token: sys, body: { name } })).json;
  const site = (await call(server, 'POST', '/v1/sites', { token: sys, body: { name: 'Lyon', timezone: 'Europe/Paris', tenant_id: t.id } })).json;
  const admin = (await call(server, 'POST', '/v1/users', { token: sys, body: { username: `${name.toLowerCase()}-admin`, password: 'admin-password-1', role: 'tenant_admin', tenant_id: t.id } })).json;
  const token = (await login(server, admin.username, 'admin-password-1')).access_token;
  const key = (await call(server, 'POST', '/v1/api-keys', { token, body: { name: 'store', site_id: site.id } })).json.secret;
  const cameras = {};
  for (const n of cameraNames)
    cameras[n] = (await call(server, 'POST', '/v1/cameras', { token, body: { site_id: site.id, name: n, kind: 'rtsp', url: 'rtsp://10.0.0.1/' + n } })).json;
  return { tenant: t, site, token, key, cameras };
}
