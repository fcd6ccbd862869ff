import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { Button, ErrorNote, Field } from '../components/ui.js';
import { useAction } from '../hooks.js';
import { useSession } from '../session.js';

/** Change one's own password (ends one's other sessions). */
export function PasswordForm() {
  const { refresh } = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const [done, setDone] = useState(false);
  const change = useAction(async () => {
    setDone(false);
    await api('POST', '/api/v1/me/password', { body: { current_password: current, new_password: next } });
    setCurrent('');
    setNext('');
    setRepeat('');
    setDone(true);
    await refresh();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setMismatch(next !== repeat);
    if (next === repeat) void change.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Change password">
      <h2>Password</h2>
      <Field
        label="Current password"
        type="password"
        value={current}
        onChange={setCurrent}
        autoComplete="current-password"
        required
      />
      <Field
        label="New password"
        type="password"
        value={next}
        onChange={setNext}
        autoComplete="new-password"
        required
      />
      <Field
        label="Repeat new password"
        type="password"
        value={repeat}
        onChange={setRepeat}
        autoComplete="new-password"
        required
      />
      {mismatch ? (
        <div className="error" role="alert">
          <p>The two new passwords differ. Type the same password twice.</p>
        </div>
      ) : null}
      <ErrorNote error={change.error} />
      {done ? (
        <p className="ok" role="status">
          Password changed. Your other sessions were signed out.
        </p>
      ) : null}
      <Button type="submit" kind="primary" busy={change.busy} busyText="Changing…">
        Change password
      </Button>
    </form>
  );
}
