import { describe, expect, it } from 'vitest';
import { retryDelay, streamUrl } from './events';

describe('event stream', () => {
  it('puts the ticket, topics, tenant and the last id seen in the URL (never a token)', () => {
    const u = new URL(streamUrl('tk_abc', { topics: ['visit', 'worker'], tenantId: 4, lastId: '1764990000000042' }), 'http://x');
    expect(u.pathname).toBe('/v1/events');
    expect(u.searchParams.get('ticket')).toBe('tk_abc');
    expect(u.searchParams.get('topics')).toBe('visit,worker');
    expect(u.searchParams.get('tenant_id')).toBe('4');
    expect(u.searchParams.get('last_event_id')).toBe('1764990000000042');
    const first = new URL(streamUrl('tk', {}), 'http://x');
    expect([...first.searchParams.keys()]).toEqual(['ticket']);
  });
  it('backs off from 1 s doubling to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
