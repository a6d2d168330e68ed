/**
 * Sign-in: the API token is kept for this tab only (sessionStorage), never in a URL or a cookie.
 * The server says what the token may do (`GET /api/v2/auth/me`), and the console shows only
 * what works for that role.
 */
import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { Api, ApiError } from './api/client';
import type { Role } from './permissions';

const TOKEN_KEY = 'nfr.console.token';
const ROLE_KEY = 'nfr.console.role';

export interface Session {
  readonly api: Api;
  readonly role: Role;
  signOut(reason?: string): void;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in console');
  return s;
}

export function useApi(): Api {
  return useSession().api;
}

function stored(): { token: string; role: Role } | null {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const role = sessionStorage.getItem(ROLE_KEY);
  return token && (role === 'reader' || role === 'operator' || role === 'admin') ? { token, role } : null;
}

/** Renders `signIn` until a token is accepted, then the console with its session. */
export function SessionGate({ signIn, children }: { signIn: (props: SignInProps) => ReactNode; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [current, setCurrent] = useState(stored);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback(
    (reason?: string) => {
      sessionStorage.removeItem(TOKEN_KEY);
      sessionStorage.removeItem(ROLE_KEY);
      queryClient.clear();
      setNotice(reason ?? null);
      setCurrent(null);
    },
    [queryClient],
  );

  const session = useMemo<Session | null>(() => {
    if (!current) return null;
    const api = new Api(current.token, (err) => signOut(`Signed out: the server refused the token (${err.code}: ${err.message}).`));
    return { api, role: current.role, signOut };
  }, [current, signOut]);

  const submit = useCallback(async (token: string) => {
    const me = await new Api(token).me();
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(ROLE_KEY, me.role);
    setNotice(null);
    setCurrent({ token, role: me.role });
  }, []);

  if (!session) return <>{signIn({ submit, notice })}</>;
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export interface SignInProps {
  submit(token: string): Promise<void>;
  notice: string | null;
}

export { ApiError };
