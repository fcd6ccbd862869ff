import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api, onSessionLost, setCsrfToken } from './api.js';
import type { Me, User } from './types.js';

interface SessionValue {
  /** undefined while the first GET /api/v1/me runs; null when signed out. */
  user: User | null | undefined;
  /** Why the session could not be checked (not a plain "signed out"). */
  error: unknown;
  signedIn(me: Me): void;
  signedOut(): void;
  refresh(): Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);

  const signedIn = useCallback((me: Me) => {
    setCsrfToken(me.csrf_token);
    setUser(me.user);
    setError(null);
  }, []);
  const signedOut = useCallback(() => {
    setCsrfToken(null);
    setUser(null);
  }, []);
  const refresh = useCallback(async () => {
    try {
      signedIn(await api<Me>('GET', '/api/v1/me', { quiet401: true }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signedOut();
      else {
        setError(err);
        setUser(null);
      }
    }
  }, [signedIn, signedOut]);

  useEffect(() => {
    onSessionLost(signedOut);
    void refresh();
    return () => onSessionLost(null);
  }, [refresh, signedOut]);

  const value = useMemo(
    () => ({ user, error, signedIn, signedOut, refresh }),
    [user, error, signedIn, signedOut, refresh],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in user (pages behind the sign-in gate only). */
export function useUser(): User {
  const { user } = useSession();
  if (!user) throw new Error('useUser without a signed-in user');
  return user;
}
