import { describe, expect, it } from 'vitest';
import { createSession, listAll, storageLock, unwrap } from './session';
import { ApiError, toApiError } from './errors';
import { operationIds } from './capabilities';

const BASE = 'http://ff.test';
const user = { id: 1, username: 'alice', role: 'tenant_admin', tenant_id: 1, site_id: null };
const sessionBody = (token: string) => ({
  access_token: token, token_type: 'Bearer', expires_in: 900, refresh_token: 'ffr_x', refresh_expires_in: 60, user,
});
const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/** A fake server: records requests; `valid` is the access token it accepts. */
function fakeServer() {
  const calls: { method: string; path: string; auth: string | null; body: string; url: string }[] = [];
  const state = { valid: 'tok1', refreshes: 0, refreshOk: true, next: 2 };
  const fetch = async (req: Request) => {
    const url = new URL(req.url);
    const body = req.method === 'GET' ? '' : await req.text();
    calls.push({ method: req.method, path: url.pathname, auth: req.headers.get('Authorization'), body, url: req.url });
    if (url.pathname === '/v1/auth/login') {
      const b = JSON.parse(body);
      return b.password === 'right' ? json(200, sessionBody(state.valid)) : json(401, { error: { code: 'unauthorized', message: 'wrong username or password' } });
    }
    if (url.pathname === '/v1/auth/refresh') {
      state.refreshes++;
      await new Promise((r) => setTimeout(r, 5));
      if (!state.refreshOk) return json(401, { error: { code: 'unauthorized', message: 'this session was revoked' } });
      state.valid = `tok${state.next++}`;
      return json(200, sessionBody(state.valid));
    }
    if (url.pathname === '/v1/auth/logout') return new Response(null, { status: 204 });
    if (req.headers.get('Authorization') !== `Bearer ${state.valid}`) {
      return json(401, { error: { code: 'unauthorized', message: 'the access token is invalid or expired' } });
    }
    if (url.pathname === '/v1/sites' && req.method === 'POST') {
      return json(409, { error: { code: 'conflict', message: 'a site with this name exists' } });
    }
    if (url.pathname === '/v1/sites') return json(200, { items: [{ id: 1, tenant_id: 1, name: 'A', timezone: 'UTC' }], next_cursor: null });
    return json(404, { error: { code: 'not_found', message: 'no such thing' } });
  };
  return { calls, state, fetch };
}

const noLock = <T,>(_: string, fn: () => Promise<T>) => fn();

describe('session', () => {
  it('signs in and sends the access token in the Authorization header only', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    const me = await s.login('alice', 'right');
    expect(me.username).toBe('alice');
    const sites = await unwrap(s.client.GET('/v1/sites', { params: { query: { limit: 10 } } }));
    expect(sites.items[0].name).toBe('A');
    const get = srv.calls.find((c) => c.path === '/v1/sites')!;
    expect(get.auth).toBe('Bearer tok1');
    for (const c of srv.calls) expect(c.url).not.toContain('tok1');
  });

  it('surfaces the server message of a failed sign-in', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    await expect(s.login('alice', 'wrong')).rejects.toMatchObject({ status: 401, code: 'unauthorized', message: 'wrong username or password' });
    expect(s.signedIn).toBe(false);
  });

  it('refreshes once on 401 and retries the request with the new token', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    await s.login('alice', 'right');
    srv.state.valid = 'rotated-elsewhere'; // the access token expired
    srv.state.next = 7;
    const sites = await unwrap(s.client.GET('/v1/sites'));
    expect(sites.items).toHaveLength(1);
    expect(srv.state.refreshes).toBe(1);
    const gets = srv.calls.filter((c) => c.path === '/v1/sites');
    expect(gets.map((c) => c.auth)).toEqual(['Bearer tok1', 'Bearer tok7']);
  });

  it('makes one refresh for many concurrent 401s', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    await s.login('alice', 'right');
    srv.state.valid = 'expired';
    const all = await Promise.all([1, 2, 3, 4].map(() => unwrap(s.client.GET('/v1/sites'))));
    expect(all).toHaveLength(4);
    expect(srv.state.refreshes).toBe(1);
  });

  it('signs out when the refresh is refused, without looping', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    const seen: unknown[] = [];
    s.subscribe((u) => seen.push(u));
    await s.login('alice', 'right');
    srv.state.valid = 'expired';
    srv.state.refreshOk = false;
    await expect(unwrap(s.client.GET('/v1/sites'))).rejects.toMatchObject({ status: 401 });
    expect(srv.state.refreshes).toBe(1);
    expect(s.signedIn).toBe(false);
    expect(seen.at(-1)).toBeNull();
  });

  it('restores a session from the cookie with an empty JSON body', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    const got = await s.refresh();
    expect(got?.user.username).toBe('alice');
    const r = srv.calls.find((c) => c.path === '/v1/auth/refresh')!;
    expect(r.method).toBe('POST');
    expect(r.body).toBe('{}');
    expect(s.signedIn).toBe(true);
  });

  it('throws the server error of a refused mutation with its code', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    await s.login('alice', 'right');
    const err = await unwrap(s.client.POST('/v1/sites', { body: { name: 'A', timezone: 'UTC' } })).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, code: 'conflict', message: 'a site with this name exists' });
  });

  it('forgets the token on logout', async () => {
    const srv = fakeServer();
    const s = createSession({ baseUrl: BASE, fetch: srv.fetch, lock: noLock });
    await s.login('alice', 'right');
    await s.logout();
    expect(s.signedIn).toBe(false);
    expect(srv.calls.at(-1)?.path).toBe('/v1/auth/logout');
  });
});

describe('errors', () => {
  it('keeps a non-JSON answer short and readable', () => {
    expect(toApiError(502, '<html>Bad gateway</html>', 'Bad Gateway').message).toBe('HTTP 502 Bad Gateway');
    expect(toApiError(500, { error: { code: 'internal', message: 'boom' } }).code).toBe('internal');
  });
});

describe('listAll', () => {
  it('follows cursors to the last page and stops at the bound', async () => {
    const pages: Record<string, { items: number[]; next_cursor: number | null }> = {
      start: { items: [1, 2], next_cursor: 2 }, 2: { items: [3], next_cursor: 3 }, 3: { items: [4], next_cursor: null },
    };
    expect(await listAll(async (c) => pages[c === undefined ? 'start' : c])).toEqual([1, 2, 3, 4]);
    let n = 0;
    const endless = await listAll(async () => ({ items: [n++], next_cursor: 1 }), 3);
    expect(endless).toEqual([0, 1, 2]);
  });
});

describe('capabilities', () => {
  it('reads operation ids from an OpenAPI document', () => {
    const ids = operationIds({ paths: { '/v1/sites': { get: { operationId: 'listSites' }, post: { operationId: 'createSite' } }, '/x': { parameters: [] } } });
    expect([...ids].sort()).toEqual(['createSite', 'listSites']);
    expect(operationIds(null).size).toBe(0);
  });
});

describe('storageLock', () => {
  function memoryStorage(): Storage {
    const m = new Map<string, string>();
    return {
      get length() { return m.size; },
      clear: () => m.clear(),
      getItem: (k) => m.get(k) ?? null,
      key: (i) => [...m.keys()][i] ?? null,
      removeItem: (k) => { m.delete(k); },
      setItem: (k, v) => { m.set(k, v); },
    };
  }
  it('runs holders one after another and releases the lease', async () => {
    const st = memoryStorage();
    const log: string[] = [];
    const job = (id: string) => storageLock('r', async () => {
      log.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 30));
      log.push(`end ${id}`);
      return id;
    }, st);
    expect(await Promise.all([job('a'), job('b'), job('c')])).toEqual(['a', 'b', 'c']);
    for (let i = 0; i < log.length; i += 2) expect(log[i + 1]).toBe(log[i].replace('start', 'end'));
    expect(st.getItem('footfall.lock.r')).toBeNull();
  });
});
