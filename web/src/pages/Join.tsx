import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { Button, ErrorNote, Field } from '../components/ui.js';
import { useAction } from '../hooks.js';
import { navigate } from '../navigation.js';
import { useSession } from '../session.js';
import type { Me } from '../types.js';

/** Redeems an invitation link (#/join/<code>): choose a name and password, then signed in. */
export function JoinPage({ code }: { code: string }) {
  const { signedIn } = useSession();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const join = useAction(async () => {
    const clean = name.trim();
    await api('POST', '/api/v1/join', { body: { code, name: clean, password }, quiet401: true });
    const me = await api<Me>('POST', '/api/v1/login', { body: { name: clean, password }, quiet401: true });
    signedIn(me);
    navigate({ page: 'apps' });
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setMismatch(password !== repeat);
    if (password === repeat) void join.run();
  };
  return (
    <main className="narrow">
      <h1>Join this Warren cloud</h1>
      <p>You were invited. Choose the name and password you will sign in with.</p>
      <form onSubmit={submit} className="card">
        <Field
          label="Name"
          value={name}
          onChange={setName}
          autoComplete="username"
          hint="Lower-case letters, digits, dots, dashes and underscores."
          required
        />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          required
        />
        <Field
          label="Repeat password"
          type="password"
          value={repeat}
          onChange={setRepeat}
          autoComplete="new-password"
          required
        />
        {mismatch ? (
          <div className="error" role="alert">
            <p>The two passwords differ. Type the same password twice.</p>
          </div>
        ) : null}
        <ErrorNote error={join.error} />
        <Button type="submit" kind="primary" busy={join.busy} busyText="Creating your account…">
          Create account
        </Button>
      </form>
      <p className="muted">
        Already have an account? <a href="#/login">Sign in</a>.
      </p>
    </main>
  );
}
