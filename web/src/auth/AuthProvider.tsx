import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { api, type Me } from '../api';
import { forgetTenants } from './tenantMemory';

export type AuthState = { status: 'loading' } | { status: 'signedOut' } | { status: 'signedIn'; user: Me };

const Ctx = createContext<AuthState>({ status: 'loading' });

/** Restores the session from the refresh cookie once, then follows the session. */
export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ status: 'loading' });
  useEffect(() => {
    const off = api.subscribe((user) => {
      if (!user) forgetTenants();
      setState(user ? { status: 'signedIn', user } : { status: 'signedOut' });
    });
    api.refresh().then(
      (s) => setState(s ? { status: 'signedIn', user: s.user } : { status: 'signedOut' }),
      () => setState({ status: 'signedOut' }),
    );
    return off;
  }, []);
  return <Ctx.Provider value={state}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthState {
  return useContext(Ctx);
}

/** The signed-in user; only inside the signed-in shell. */
export function useMe(): Me {
  const s = useContext(Ctx);
  if (s.status !== 'signedIn') throw new Error('useMe outside a signed-in page');
  return s.user;
}
