// The app's single API session. Pages call `api.client.GET/POST/PATCH/DELETE`
// (typed from the server's OpenAPI document) through `unwrap`.
import { createSession } from './session';

// Same origin as the page (the fallback only matters outside a browser, e.g. in unit tests).
export const api = createSession({ baseUrl: globalThis.location?.origin ?? 'http://localhost' });
export { unwrap, listAll } from './session';
export type { Schemas, Me } from './session';
export { ApiError, errorMessage } from './errors';
