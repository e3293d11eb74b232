// A small WebSocket client for the tests (RFC 6455 over node:net; Node 20
// has no stable WebSocket global): handshake with extra headers, masked
// text/binary frames out, frames in (fragments joined), ping answered,
// close. Enough to drive the server's WebSocket routes byte for byte.
import { connect } from 'node:net';
import { randomBytes, createHash } from 'node:crypto';

export class WsClient {
  /** Resolves once the upgrade succeeded; rejects with {status, body} otherwise. */
  static open(url, headers = {}) {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const key = randomBytes(16).toString('base64');
      const sock = connect(Number(u.port), u.hostname);
      let buf = Buffer.alloc(0);
      let upgraded = false;
      const c = new WsClient(sock);
      sock.on('error', (e) => { if (!upgraded) reject(e); else c._end(); });
      sock.on('close', () => { if (!upgraded) reject(Object.assign(new Error('closed before the upgrade'), { status: 0, body: buf.toString() })); c._end(); });
      sock.on('connect', () => {
        const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Upgrade: websocket', 'Connection: Upgrade',
          `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13',
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        sock.write(lines.join('\r\n') + '\r\n\r\n');
      });
      sock.on('data', (d) => {
        if (upgraded) { c._feed(d); return; }
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        const status = Number(head.split(' ')[1]);
        if (status !== 101) {
          // Read the rest of the error body (Content-Length) before rejecting.
          const len = Number((head.match(/content-length:\s*(\d+)/i) || [])[1] || 0);
          const body = buf.subarray(end + 4);
          if (body.length < len) return;
          sock.destroy();
          upgraded = true; // suppress the close handler's rejection
          reject(Object.assign(new Error(`upgrade refused: ${status}`), { status, body: body.toString() }));
          return;
        }
        const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        if (!head.toLowerCase().includes(accept.toLowerCase())) { sock.destroy(); reject(new Error('bad Sec-WebSocket-Accept')); return; }
        upgraded = true;
        resolve(c);
        const rest = buf.subarray(end + 4);
        if (rest.length) c._feed(rest);
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frags = [];
    this.messages = []; // {binary, data}
    this.waiters = [];
    this.closed = false;
    this.closedPromise = new Promise((r) => { this._closedResolve = r; });
  }

  _end() {
    if (this.closed) return;
    this.closed = true;
    this._closedResolve();
    for (const w of this.waiters.splice(0)) w.resolve(null);
  }

  _feed(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0, op = b[0] & 0x0f;
      let len = b[1] & 0x7f, off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      const masked = (b[1] & 0x80) !== 0;
      const mask = masked ? b.subarray(off, off + 4) : null;
      if (masked) off += 4;
      if (b.length < off + len) return;
      let payload = Buffer.from(b.subarray(off, off + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      this.buf = b.subarray(off + len);
      if (op === 0x9) { this._send(0xa, payload); continue; }
      if (op === 0xa) continue;
      if (op === 0x8) { try { this._send(0x8, Buffer.alloc(0)); } catch { /* gone */ } this.sock.end(); this._end(); return; }
      if (op === 0x1 || op === 0x2) this.fragOp = op;
      this.frags.push(payload);
      if (!fin) continue;
      const data = Buffer.concat(this.frags);
      this.frags = [];
      const m = { binary: this.fragOp === 0x2, data: this.fragOp === 0x2 ? data : data.toString() };
      const w = this.waiters.findIndex((x) => x.filter(m));
      if (w >= 0) this.waiters.splice(w, 1)[0].resolve(m);
      else this.messages.push(m);
    }
  }

  _send(op, payload) {
    const mask = randomBytes(4);
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | op, 0x80 | len])
      : len < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, len >> 8, len & 255])
        : Buffer.concat([Buffer.from([0x80 | op, 0x80 | 127]), (() => { const x = Buffer.alloc(8); x.writeBigUInt64BE(BigInt(len)); return x; })()]);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
    this.sock.write(Buffer.concat([head, mask, body]));
  }

  sendText(text) { this._send(0x1, Buffer.from(text)); }
  sendJson(obj) { this.sendText(JSON.stringify(obj)); }
  sendBinary(buf) { this._send(0x2, Buffer.from(buf)); }
  close() { if (!this.closed) { try { this._send(0x8, Buffer.alloc(0)); } catch { /* gone */ } } return this.closedPromise; }

  /** The next message matching filter (parsed JSON for text), or null when the connection closes or timeoutMs passes. */
  next(filter = () => true, timeoutMs = 10000) {
    const f = (m) => filter(m.binary ? m : JSON.parse(m.data));
    const i = this.messages.findIndex(f);
    if (i >= 0) { const m = this.messages.splice(i, 1)[0]; return Promise.resolve(m.binary ? m : JSON.parse(m.data)); }
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const w = { filter: f, resolve: (m) => { clearTimeout(t); resolve(m && (m.binary ? m : JSON.parse(m.data))); } };
      const t = setTimeout(() => { const k = this.waiters.indexOf(w); if (k >= 0) this.waiters.splice(k, 1); resolve(null); }, timeoutMs);
      this.waiters.push(w);
    });
  }
}
