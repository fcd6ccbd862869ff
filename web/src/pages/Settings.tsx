import { type FormEvent, useState } from 'react';
import { api, seg } from '../api.js';
import { Badge, Button, CopyButton, ErrorNote, Field, formatDate, Loading } from '../components/ui.js';
import { useAction, useLoad } from '../hooks.js';
import { navigate } from '../navigation.js';
import { useSession, useUser } from '../session.js';
import type { SessionRow } from '../types.js';
import { PasswordForm } from './Password.js';

/** #/settings: password, second factor, sessions. */
export function SettingsPage() {
  return (
    <>
      <h1>Settings</h1>
      <PasswordForm />
      <Totp />
      <Sessions />
    </>
  );
}

function Totp() {
  const user = useUser();
  const { refresh } = useSession();
  const [setup, setSetup] = useState<{ secret: string; otpauth_url: string } | null>(null);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const begin = useAction(async () => {
    setSetup(await api<{ secret: string; otpauth_url: string }>('POST', '/api/v1/me/totp'));
  });
  const confirm = useAction(async () => {
    await api('POST', '/api/v1/me/totp/confirm', { body: { code: code.trim() } });
    setSetup(null);
    setCode('');
    await refresh();
  });
  const disable = useAction(async () => {
    await api('DELETE', '/api/v1/me/totp', { body: { password } });
    setPassword('');
    await refresh();
  });
  const submitConfirm = (e: FormEvent) => {
    e.preventDefault();
    void confirm.run();
  };
  const submitDisable = (e: FormEvent) => {
    e.preventDefault();
    void disable.run();
  };
  return (
    <section className="card" aria-labelledby="totp-title">
      <h2 id="totp-title">
        Second factor (authenticator app){' '}
        {user.totp ? <Badge tone="ok">On</Badge> : <Badge tone="muted">Off</Badge>}
      </h2>
      {user.totp ? (
        <form onSubmit={submitDisable}>
          <p>Signing in asks for a code from your authenticator app. To turn it off, enter your password.</p>
          <Field
            label="Password to turn it off"
            type="password"
            value={password}
            onChange={setPassword}
            autoComplete="current-password"
            required
          />
          <ErrorNote error={disable.error} />
          <Button type="submit" kind="danger" busy={disable.busy} busyText="Turning off…">
            Turn off second factor
          </Button>
        </form>
      ) : setup ? (
        <form onSubmit={submitConfirm}>
          <p>Add this account to your authenticator app: open the link on your phone, or type the secret.</p>
          <p>
            Link: <code className="secret">{setup.otpauth_url}</code> <CopyButton value={setup.otpauth_url} />
          </p>
          <p>
            Secret: <code className="secret">{setup.secret}</code> <CopyButton value={setup.secret} />
          </p>
          <Field
            label="Code from the app"
            value={code}
            onChange={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
            required
          />
          <ErrorNote error={confirm.error} />
          <Button type="submit" kind="primary" busy={confirm.busy} busyText="Checking…">
            Turn on second factor
          </Button>
        </form>
      ) : (
        <>
          <p>With a second factor, a stolen password alone cannot sign in to your account.</p>
          <ErrorNote error={begin.error} />
          <Button kind="primary" onClick={() => void begin.run()} busy={begin.busy} busyText="Preparing…">
            Set up second factor
          </Button>
        </>
      )}
    </section>
  );
}

function Sessions() {
  const { signedOut } = useSession();
  const sessions = useLoad((signal) => api<{ items: SessionRow[] }>('GET', '/api/v1/sessions', { signal }));
  return (
    <section className="card" aria-labelledby="sessions-title">
      <h2 id="sessions-title">Where you are signed in</h2>
      <ErrorNote error={sessions.error} />
      {!sessions.data && !sessions.error ? <Loading what="your sessions" /> : null}
      <ul className="plain-list">
        {sessions.data?.items.map((s) => (
          <li key={s.id_prefix}>
            <SessionItem
              session={s}
              onRevoked={() => {
                if (s.current) {
                  signedOut();
                  navigate({ page: 'login' });
                } else sessions.reload();
              }}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}

function SessionItem({ session, onRevoked }: { session: SessionRow; onRevoked: () => void }) {
  const revoke = useAction(async () => {
    await api('DELETE', `/api/v1/sessions/${seg(session.id_prefix)}`);
    onRevoked();
  });
  return (
    <div className="session">
      <p>
        <strong>{describeAgent(session.user_agent)}</strong> from {session.address}{' '}
        {session.current ? <Badge tone="info">This browser</Badge> : null}
      </p>
      <p className="muted">
        Signed in {formatDate(session.created_at)} · last seen {formatDate(session.last_seen_at)} · ends{' '}
        {formatDate(session.expires_at)}
      </p>
      <ErrorNote error={revoke.error} />
      <Button onClick={() => void revoke.run()} busy={revoke.busy} busyText="Ending…">
        {session.current ? 'End this session' : 'End session'}
      </Button>
    </div>
  );
}

function describeAgent(ua: string): string {
  if (!ua) return 'Unknown browser';
  const browser = /(Firefox|Edg|Chrome|Chromium|Safari|curl)\/[\d.]+/.exec(ua)?.[0] ?? ua.slice(0, 60);
  const os = /(Android|iPhone|iPad|Windows|Mac OS X|Linux)/.exec(ua)?.[0];
  return os ? `${browser} on ${os}` : browser;
}
