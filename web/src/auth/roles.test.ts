import { describe, expect, it } from 'vitest';
import { PAGES, offered, permitted } from '../app/pages';
import { ROLES, allowed, assignableRoles, type Role } from './roles';
import routesC from '../../../src/server/routes.c?raw';
import openapiJson from '../../../src/server/openapi.json?raw';

// The server's route table (src/server/routes.c) and its OpenAPI document:
// which roles may call each operation.
const MACROS: Record<string, readonly Role[]> = {
  ANY_USER: ROLES, MANAGERS: ['system_admin', 'tenant_admin', 'site_manager'], ADMINS: ['system_admin', 'tenant_admin'], SYSTEM: ['system_admin'], WORKER: [], '0': [],
};
/** Roles per operationId, for the reading (GET) operations. */
function operationRoles(): Map<string, readonly Role[]> {
  const routes = routesC;
  const doc = JSON.parse(openapiJson);
  const out = new Map<string, readonly Role[]>();
  for (const m of routes.matchAll(/\{"(GET|POST|PUT|PATCH|DELETE)", "([^"]+)", \w+, (\w+),/g)) {
    const op = doc.paths?.[m[2]]?.[m[1].toLowerCase()]?.operationId;
    if (op && m[1] === 'GET') out.set(op, MACROS[m[3]] ?? []);
  }
  return out;
}

describe('roles and pages', () => {
  const visible = (role: Parameters<typeof allowed>[0]) => PAGES.filter((p) => allowed(role, p.roles)).map((p) => p.path);
  it('shows viewers only the pages every user may read', () => {
    expect(visible('viewer')).toEqual(['/', '/reports', '/sites', '/cameras', '/live', '/workers', '/visits', '/customers', '/staff']);
    expect(visible('site_manager')).toEqual(['/', '/reports', '/sites', '/cameras', '/live', '/workers', '/visits', '/customers', '/staff']);
  });
  it('gives tenant admins everything but tenants, and system admins everything', () => {
    expect(visible('tenant_admin')).toEqual(['/', '/reports', '/sites', '/cameras', '/live', '/workers', '/visits', '/customers', '/staff', '/users', '/api-keys', '/do-not-track', '/jobs', '/audit']);
    expect(visible('system_admin')).toHaveLength(PAGES.length);
  });
  // A page may also list a write operation only to know the server has it
  // (its actions are then gated by role); what it reads, its roles must be allowed.
  it('opens a page only to roles the server lets read everything it shows', () => {
    const roles = operationRoles();
    expect(roles.get('listSites')).toEqual(ROLES);
    for (const page of PAGES) {
      for (const op of page.requires.filter((o) => /^(get|list|similar|stream)/.test(o))) {
        expect(roles.has(op), `${page.path} reads ${op}, which the server does not route`).toBe(true);
        for (const r of page.roles) expect(roles.get(op), `${page.path}: ${r} may not call ${op}`).toContain(r);
      }
    }
  });
  it('shows tenants only in the all-tenants view', () => {
    const tenants = PAGES.find((p) => p.path === '/tenants')!;
    expect(permitted(tenants, { role: 'system_admin', tenant_id: null })).toBe(true);
    expect(permitted(tenants, { role: 'system_admin', tenant_id: 3 })).toBe(false);
    expect(permitted(tenants, { role: 'tenant_admin', tenant_id: 3 })).toBe(false);
  });
  it('hides a page whose operations the server does not describe', () => {
    const users = PAGES.find((p) => p.path === '/users')!;
    expect(offered(users, new Set(['listSites']))).toBe(false);
    expect(offered(users, new Set(['listUsers']))).toBe(true);
  });
  it('lets tenant admins assign only tenant roles', () => {
    expect(assignableRoles('tenant_admin')).not.toContain('system_admin');
    expect(assignableRoles('viewer')).toEqual([]);
  });
});
