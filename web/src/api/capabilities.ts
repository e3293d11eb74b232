// What this server offers, read from its own OpenAPI document: a page whose
// operations are missing is not shown (pages for endpoints still being built
// slot in once the server describes them).
import { useQuery } from '@tanstack/react-query';

export type Capabilities = ReadonlySet<string>;

export function operationIds(doc: unknown): Set<string> {
  const ids = new Set<string>();
  const paths = (doc as { paths?: Record<string, Record<string, { operationId?: string }>> })?.paths;
  if (!paths) return ids;
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item ?? {})) {
      if (op && typeof op === 'object' && typeof op.operationId === 'string') ids.add(op.operationId);
    }
  }
  return ids;
}

export function useCapabilities() {
  return useQuery({
    queryKey: ['openapi'],
    staleTime: Infinity,
    queryFn: async (): Promise<Capabilities> => {
      const res = await fetch('/v1/openapi.json', { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return operationIds(await res.json());
    },
  });
}
