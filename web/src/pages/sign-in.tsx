import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../components/error-message';
import type { SignInProps } from '../session';

export function SignIn({ submit, notice }: SignInProps) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await submit(token.trim());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <h1>nfr-connect console</h1>
      <p className="muted">Sign in with an API token from the server's <code>API_TOKENS</code>. It is kept for this tab only and never put in a URL.</p>
      {notice ? (
        <p role="status" className="notice">
          {notice}
        </p>
      ) : null}
      <form onSubmit={onSubmit}>
        <label htmlFor="token">API token</label>
        <input id="token" type="password" autoComplete="off" spellCheck={false} value={token} onChange={(e) => setToken(e.target.value)} required autoFocus />
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <ErrorMessage error={error} title="Sign-in failed" />
    </main>
  );
}
