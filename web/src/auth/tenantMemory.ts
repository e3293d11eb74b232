// The tenant list a system admin saw in the all-tenants view, kept for this
// tab so the switcher can offer every tenant from inside one (the server lists
// only the current tenant there). Ids and names only.
import type { Schemas } from '../api';

const TENANTS_KEY = 'footfall.tenants';

/** Tenant ids and names seen in the all-tenants view, kept for this tab (not secret). */
export function rememberTenants(list: Schemas['Tenant'][]) {
  try {
    sessionStorage.setItem(TENANTS_KEY, JSON.stringify(list.map(({ id, name }) => ({ id, name }))));
  } catch {
    /* storage disabled */
  }
}

export function rememberedTenants(): Schemas['Tenant'][] | undefined {
  try {
    const v = JSON.parse(sessionStorage.getItem(TENANTS_KEY) ?? 'null');
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function forgetTenants() {
  try {
    sessionStorage.removeItem(TENANTS_KEY);
  } catch {
    /* storage disabled */
  }
}
