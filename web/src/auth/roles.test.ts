import { describe, expect, it } from 'vitest';
import { PAGES, offered, permitted } from '../app/pages';
import { ADMINS, ANY_USER, MANAGERS, ROLES, SYSTEM, allowed, assignableRoles, type Role } from './roles';
import openapiJson from '../../../src/server/openapi.json?raw';

// The server's OpenAPI document names, per operation, the roles that may call
// it (x-roles; tests/unit/server checks them against the route table).
type Operation = { operationId?: string; 'x-roles'?: string[] };
const doc = JSON.parse(openapiJson) as { paths: Record<string, Record<string, Operation>> };
const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, ...op })));
const userRoles = (op: Operation): Role[] => ROLES.filter((r) => (op['x-roles'] ?? []).includes(r));
/** Roles per operationId, for the reading (GET) operations. */
function operationRoles(): Map<string, readonly Role[]> {
  const out = new Map<string, readonly Role[]>();
  for (const op of operations) if (op.method === 'get' && op.operationId) out.set(op.operationId, userRoles(op));
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
  it('every operation names its roles, in the tiers the dashboard knows', () => {
    const tiers = [ANY_USER, MANAGERS, ADMINS, SYSTEM, []].map((t) => [...t].sort().join());
    for (const op of operations) {
      expect(Array.isArray(op['x-roles']), `${op.method} ${op.path} has no x-roles`).toBe(true);
      expect(tiers, `${op.method} ${op.path}: ${op['x-roles']}`).toContain([...userRoles(op)].sort().join());
    }
  });
  it('a page for fewer than every user is closed to exactly the roles its main read refuses', () => {
    const roles = operationRoles();
    for (const page of PAGES.filter((p) => p.roles.length < ROLES.length))
      expect([...roles.get(page.requires[0])!].sort(), page.path).toEqual([...page.roles].sort());
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
