// Who may open what. Mirrors the role column of the server's route table
// (src/server/routes.c); the server enforces it, the dashboard only hides
// what would be refused.
import type { Schemas } from '../api';

export type Role = Schemas['Role'];

export const ROLES: readonly Role[] = ['system_admin', 'tenant_admin', 'site_manager', 'viewer'];
export const ANY_USER: readonly Role[] = ROLES;
export const MANAGERS: readonly Role[] = ['system_admin', 'tenant_admin', 'site_manager'];
export const ADMINS: readonly Role[] = ['system_admin', 'tenant_admin'];
export const SYSTEM: readonly Role[] = ['system_admin'];

export function allowed(role: Role | undefined, roles: readonly Role[]): boolean {
  return role !== undefined && roles.includes(role);
}

/** Roles a caller may give to a user it creates or edits. */
export function assignableRoles(role: Role): Role[] {
  if (role === 'system_admin') return [...ROLES];
  if (role === 'tenant_admin') return ['tenant_admin', 'site_manager', 'viewer'];
  return [];
}
