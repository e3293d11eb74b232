import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The server serves dist/ itself (same origin); `npm run dev` proxies the API
// to a server started separately (FOOTFALL_URL, default http://127.0.0.1:8080).
const target = process.env.FOOTFALL_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    manifest: true,
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: { '/v1': target, '/healthz': target, '/readyz': target },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    // Only the pure logic is unit-tested here; pages are driven in a real browser (tests/browser).
  },
});
