// The realtime feed (GET /v1/events, Server-Sent Events). EventSource cannot
// send an Authorization header, so every connection takes a fresh single-use
// stream ticket. EventSource's own reconnect would reuse the spent ticket (and
// get 401), so on any error the source is closed and reopened here with a new
// ticket and `last_event_id` (the server resends what was missed, or
// `stream.reset` when its history no longer reaches back).
import { useEffect, useRef, useState } from 'react';
import { api, unwrap } from './index';

export interface RealtimeEvent {
  id?: number;
  type: string;
  tenant_id?: number;
  site_id?: number;
  at?: number;
  data: Record<string, unknown>;
}

export type StreamState = 'connecting' | 'open' | 'retrying' | 'off';

export interface StreamOptions {
  topics?: string[];
  /** For a system admin who has not switched into a tenant. */
  tenantId?: number;
  onEvent: (e: RealtimeEvent) => void;
  /** Events were missed: reload what is shown. */
  onReset?: () => void;
  onState?: (s: StreamState) => void;
}

/** Backoff before reconnect attempt n (0-based): 1 s doubling to 30 s. */
export function retryDelay(n: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(n, 5));
}

/** The stream URL for a ticket (exported for tests). */
export function streamUrl(ticket: string, o: { topics?: string[]; tenantId?: number; lastId?: string | null }): string {
  const q = new URLSearchParams({ ticket });
  if (o.topics?.length) q.set('topics', o.topics.join(','));
  if (o.tenantId) q.set('tenant_id', String(o.tenantId));
  if (o.lastId) q.set('last_event_id', o.lastId);
  return `/v1/events?${q}`;
}

/** Opens the feed; returns a function that closes it for good. */
export function openEventStream(o: StreamOptions): () => void {
  let closed = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let lastId: string | null = null;

  const retry = () => {
    if (closed) return;
    o.onState?.('retrying');
    timer = setTimeout(connect, retryDelay(attempt++));
  };

  async function connect() {
    if (closed) return;
    o.onState?.(attempt === 0 ? 'connecting' : 'retrying');
    let url: string;
    try {
      const t = await unwrap(api.client.POST('/v1/stream-tickets', { body: { path: '/v1/events' } }));
      url = streamUrl(t.ticket, { topics: o.topics, tenantId: o.tenantId, lastId });
    } catch {
      retry();
      return;
    }
    if (closed) return;
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      attempt = 0;
      o.onState?.('open');
    };
    es.onmessage = (m) => {
      if (m.lastEventId) lastId = m.lastEventId;
      let e: RealtimeEvent;
      try {
        e = JSON.parse(m.data) as RealtimeEvent;
      } catch {
        return;
      }
      if (e.type === 'stream.reset') o.onReset?.();
      else if (e.type !== 'stream.dropped') o.onEvent(e);
    };
    es.onerror = () => {
      es.close();
      if (source === es) source = null;
      retry();
    };
  }

  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    source?.close();
    o.onState?.('off');
  };
}

/** The feed for as long as the component lives (and `enabled`); the handler may change freely. */
export function useEventStream(opts: Omit<StreamOptions, 'onState'> & { enabled?: boolean }): StreamState {
  const [state, setState] = useState<StreamState>('off');
  const handlers = useRef(opts);
  handlers.current = opts;
  const topics = opts.topics?.join(',') ?? '';
  const enabled = opts.enabled ?? true;
  useEffect(() => {
    if (!enabled) return;
    return openEventStream({
      topics: topics ? topics.split(',') : undefined,
      tenantId: opts.tenantId,
      onEvent: (e) => handlers.current.onEvent(e),
      onReset: () => handlers.current.onReset?.(),
      onState: setState,
    });
  }, [topics, enabled, opts.tenantId]);
  return enabled ? state : 'off';
}
