// Downloads without a token in a URL: either a single-use stream ticket in
// `?ticket=` (for paths that accept one, so the file streams to disk), or an
// authenticated fetch whose answer is saved from a blob: URL.
import { api, unwrap } from './index';
import { toApiError } from './errors';

function save(href: string, filename: string) {
  const a = document.createElement('a');
  a.href = href;
  a.download = filename;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export async function downloadWithTicket(path: string, filename: string): Promise<void> {
  const t = await unwrap(api.client.POST('/v1/stream-tickets', { body: { path } }));
  save(`${t.path}?ticket=${encodeURIComponent(t.ticket)}`, filename);
}

/** Fetches with the session's bearer token and saves the answer as a file. */
export async function downloadFetched(fetchIt: () => Promise<{ data?: unknown; error?: unknown; response: Response }>, filename: string): Promise<void> {
  const { data, error, response } = await fetchIt();
  if (!response.ok || !(data instanceof Blob)) {
    let body: unknown = error;
    if (error instanceof Blob) {
      const text = await error.text();
      try { body = JSON.parse(text); } catch { body = text; }
    }
    throw toApiError(response.status, body, response.statusText);
  }
  const url = URL.createObjectURL(data);
  try {
    save(url, filename);
  } finally {
    // Give the browser time to start the download before the URL goes.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
