// The signed-in session and the one fetch wrapper every API call goes through.
//
// The access token lives only in this module's memory. The refresh token is an
// HttpOnly cookie (`ff_refresh`, path /v1/auth) that scripts cannot read; a
// reload restores the session by POST /v1/auth/refresh with an empty body.
// Each refresh token works once and reusing a spent one revokes the whole
// session, so refreshes are single-flight in this tab and serialised across
// tabs with the Web Locks API.
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.gen';
import { ApiError, toApiError } from './errors';

export type Schemas = components['schemas'];
export type SessionInfo = Schemas['Session'];
export type Me = Schemas['Me'];

type FetchFn = (input: Request) => Promise<Response>;

export interface SessionOptions {
  baseUrl: string;
  fetch?: FetchFn;
  /** Serialises refreshes across tabs; defaults to navigator.locks when present. */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

const AUTH_PATHS = ['/v1/auth/login', '/v1/auth/refresh', '/v1/auth/logout'];

function defaultLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  // Web Locks exist only in secure contexts (HTTPS, localhost); over plain
  // HTTP on a LAN fall back to a best-effort lock in localStorage.
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks) return locks.request(name, fn) as Promise<T>;
  return storageLock(name, fn);
}

const LOCK_MS = 5000;

/** A lease in localStorage shared by the tabs of this origin: not atomic, but it keeps tabs from refreshing at once. */
export async function storageLock<T>(name: string, fn: () => Promise<T>, storage: Storage | undefined = globalThis.localStorage): Promise<T> {
  if (!storage) return fn();
  const key = `footfall.lock.${name}`;
  const me = Math.random().toString(36).slice(2);
  const deadline = Date.now() + LOCK_MS;
  for (;;) {
    const [owner, until] = (storage.getItem(key) ?? '').split(' ');
    if (!owner || Number(until) < Date.now() || Date.now() > deadline) {
      storage.setItem(key, `${me} ${Date.now() + LOCK_MS}`);
      // Another tab may have written in between: the last writer wins.
      await new Promise((r) => setTimeout(r, 20));
      if ((storage.getItem(key) ?? '').startsWith(me + ' ')) break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    if ((storage.getItem(key) ?? '').startsWith(me + ' ')) storage.removeItem(key);
  }
}

export function createSession(opts: SessionOptions) {
  const baseFetch: FetchFn = opts.fetch ?? ((r) => globalThis.fetch(r));
  const lock = opts.lock ?? defaultLock;
  let token: string | null = null;
  let user: Me | null = null;
  let refreshing: Promise<SessionInfo | null> | null = null;
  const listeners = new Set<(user: Me | null) => void>();

  function set(s: SessionInfo | null) {
    token = s ? s.access_token : null;
    user = s ? s.user : null;
    for (const l of listeners) l(user);
  }

  async function post(path: string, body: unknown): Promise<Response> {
    return baseFetch(
      new Request(opts.baseUrl + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        credentials: 'same-origin',
      }),
    );
  }

  async function readError(res: Response): Promise<ApiError> {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON: keep the text */
    }
    return toApiError(res.status, body, res.statusText);
  }

  async function doRefresh(): Promise<SessionInfo | null> {
    const res = await post('/v1/auth/refresh', {});
    if (res.status === 401 || res.status === 400) {
      set(null);
      return null;
    }
    if (!res.ok) throw await readError(res);
    const s = (await res.json()) as SessionInfo;
    set(s);
    return s;
  }

  /** Rotates the refresh cookie for a new access token; null when signed out. */
  function refresh(): Promise<SessionInfo | null> {
    if (!refreshing) {
      refreshing = lock('footfall-refresh', doRefresh).finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function authFetch(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const retry = req.clone();
    const sent = token;
    if (sent) req.headers.set('Authorization', `Bearer ${sent}`);
    const res = await baseFetch(req);
    if (res.status !== 401 || AUTH_PATHS.includes(path) || sent === null) return res;
    // Another call may already have refreshed while this one was in flight.
    const fresh = token !== sent ? token : (await refresh())?.access_token;
    if (!fresh) {
      set(null);
      return res;
    }
    retry.headers.set('Authorization', `Bearer ${fresh}`);
    return baseFetch(retry);
  }

  const client = createClient<paths>({ baseUrl: opts.baseUrl, fetch: authFetch });

  return {
    client,
    refresh,
    get user() {
      return user;
    },
    get signedIn() {
      return token !== null;
    },
    async login(username: string, password: string): Promise<Me> {
      const res = await post('/v1/auth/login', { username, password });
      if (!res.ok) throw await readError(res);
      const s = (await res.json()) as SessionInfo;
      set(s);
      return s.user;
    },
    async logout(): Promise<void> {
      try {
        await post('/v1/auth/logout', {});
      } finally {
        set(null);
      }
    },
    /** System admins: act inside one tenant (null = all tenants). */
    async switchTenant(tenantId: number | null): Promise<Me> {
      const s = await unwrap(client.POST('/v1/auth/switch-tenant', { body: { tenant_id: tenantId } }));
      set(s);
      return s.user;
    },
    /** Replaces the cached user (after /v1/me). */
    setUser(me: Me) {
      user = me;
      for (const l of listeners) l(user);
    },
    /** Forgets the session locally (the server already ended it). */
    forget() {
      set(null);
    },
    subscribe(fn: (user: Me | null) => void): () => void {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

export type Session = ReturnType<typeof createSession>;

/** Turns openapi-fetch's {data, error, response} into data or a thrown ApiError. */
export async function unwrap<T>(
  p: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await p;
  if (!response.ok || error !== undefined) throw toApiError(response.status, error, response.statusText);
  return data as T;
}

/** Every page of a cursor-paginated list (bounded: at most `maxPages` requests). */
export async function listAll<T>(
  page: (cursor: number | undefined) => Promise<{ items: T[]; next_cursor: number | null }>,
  maxPages = 50,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: number | undefined;
  for (let i = 0; i < maxPages; i++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (p.next_cursor === null || p.next_cursor === undefined) return out;
    cursor = p.next_cursor;
  }
  return out;
}
