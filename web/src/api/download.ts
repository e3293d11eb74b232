// Downloads through a single-use stream ticket: the browser follows a plain
// link (so the file streams to disk), and no access token is put in a URL.
import { api, unwrap } from './index';

export async function downloadWithTicket(path: string, filename: string): Promise<void> {
  const t = await unwrap(api.client.POST('/v1/stream-tickets', { body: { path } }));
  const a = document.createElement('a');
  a.href = `${t.path}?ticket=${encodeURIComponent(t.ticket)}`;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}
