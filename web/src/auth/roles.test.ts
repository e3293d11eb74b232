import { describe, expect, it } from 'vitest';
import { PAGES, offered, permitted } from '../app/pages';
import { allowed, assignableRoles } from './roles';

describe('roles and pages', () => {
  const visible = (role: Parameters<typeof allowed>[0]) => PAGES.filter((p) => allowed(role, p.roles)).map((p) => p.path);
  it('shows viewers only the pages every user may read', () => {
    expect(visible('viewer')).toEqual(['/', '/sites', '/cameras', '/visits', '/customers', '/staff']);
    expect(visible('site_manager')).toEqual(['/', '/sites', '/cameras', '/visits', '/customers', '/staff']);
  });
  it('gives tenant admins everything but tenants, and system admins everything', () => {
    expect(visible('tenant_admin')).toEqual(['/', '/sites', '/cameras', '/visits', '/customers', '/staff', '/users', '/api-keys', '/audit']);
    expect(visible('system_admin')).toHaveLength(PAGES.length);
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
