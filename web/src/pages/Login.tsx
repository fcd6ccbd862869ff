import { type FormEvent, useState } from 'react';
import { ApiError, api } from '../api.js';
import { Button, ErrorNote, Field } from '../components/ui.js';
import { useAction } from '../hooks.js';
import { hashOf, type Route } from '../routes.js';
import { useSession } from '../session.js';
import type { Me } from '../types.js';

/** The sign-in form. `continuesTo`: the page asked for, shown once signed in. */
export function LoginPage({ continuesTo }: { continuesTo: Route | null }) {
  const { signedIn } = useSession();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [needTotp, setNeedTotp] = useState(false);
  const login = useAction(async () => {
    try {
      const body = { name: name.trim(), password, ...(needTotp && totp ? { totp: totp.trim() } : {}) };
      const me = await api<Me>('POST', '/api/v1/login', { body, quiet401: true });
      signedIn(me);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'TOTP_REQUIRED') setNeedTotp(true);
      throw err;
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void login.run();
  };
  const showTotpPrompt = login.error instanceof ApiError && login.error.code === 'TOTP_REQUIRED' && !totp;
  return (
    <main className="narrow">
      <h1>Sign in to Warren</h1>
      {continuesTo && continuesTo.page !== 'apps' ? (
        <p className="notice">Sign in to continue to {describe(continuesTo)}.</p>
      ) : null}
      <form onSubmit={submit} className="card">
        <Field label="Name" value={name} onChange={setName} autoComplete="username" required />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="current-password"
          required
        />
        {needTotp ? (
          <Field
            label="Authentication code"
            value={totp}
            onChange={setTotp}
            autoComplete="one-time-code"
            inputMode="numeric"
            hint="The 6-digit code from your authenticator app."
            required
          />
        ) : null}
        {showTotpPrompt ? (
          <p className="notice" role="status">
            This account has a second factor: enter the code from your authenticator app.
          </p>
        ) : (
          <ErrorNote error={login.error} />
        )}
        <Button type="submit" kind="primary" busy={login.busy} busyText="Signing in…">
          Sign in
        </Button>
      </form>
      <p className="muted">No account? Ask an admin of this cloud for an invitation link.</p>
    </main>
  );
}

function describe(route: Route): string {
  if (route.page === 'open') return `the app “${route.app}”`;
  return hashOf(route).slice(2) || 'the console';
}
