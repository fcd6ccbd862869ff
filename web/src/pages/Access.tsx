import { useEffect, useId, useState } from 'react';
import { api, seg } from '../api.js';
import { Button, ErrorNote, Loading } from '../components/ui.js';
import { useAction, useLoad } from '../hooks.js';
import type { AppAccess, UserRow } from '../types.js';

/** #/apps/<id>/access (admin): every user, or only chosen users, may open the app. */
export function AccessPage({ app }: { app: string }) {
  const access = useLoad(
    (signal) => api<AppAccess>('GET', `/api/v1/apps/${seg(app)}/access`, { signal }),
    [app],
  );
  const users = useLoad((signal) => api<{ items: UserRow[] }>('GET', '/api/v1/users', { signal }));
  const [mode, setMode] = useState<'all' | 'chosen'>('all');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [saved, setSaved] = useState(false);
  const allId = useId();
  const chosenId = useId();

  useEffect(() => {
    if (!access.data) return;
    setMode(access.data.mode);
    setChosen(new Set(access.data.users.map((u) => u.id)));
  }, [access.data]);

  const save = useAction(async () => {
    setSaved(false);
    await api('PUT', `/api/v1/apps/${seg(app)}/access`, {
      body: { mode, user_ids: mode === 'chosen' ? [...chosen] : [] },
    });
    setSaved(true);
    access.reload();
  });
  const toggle = (id: string, on: boolean) => {
    setSaved(false);
    setChosen((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  };

  return (
    <>
      <p>
        <a href="#/apps">← Apps</a>
      </p>
      <h1>Who may open {app}</h1>
      <ErrorNote error={access.error ?? users.error} />
      {!access.data && !access.error ? <Loading what="the app’s access" /> : null}
      {access.data ? (
        <fieldset className="card">
          <legend>Access</legend>
          <div className="check">
            <input
              id={allId}
              type="radio"
              name="mode"
              checked={mode === 'all'}
              onChange={() => setMode('all')}
            />
            <label htmlFor={allId}>Every user of this cloud</label>
          </div>
          <div className="check">
            <input
              id={chosenId}
              type="radio"
              name="mode"
              checked={mode === 'chosen'}
              onChange={() => setMode('chosen')}
            />
            <label htmlFor={chosenId}>Only the users chosen below (admins always may)</label>
          </div>
          {mode === 'chosen' ? (
            <ul className="plain-list">
              {users.data?.items.map((u) => (
                <li key={u.id}>
                  <UserCheck user={u} checked={chosen.has(u.id)} onChange={(on) => toggle(u.id, on)} />
                </li>
              ))}
            </ul>
          ) : null}
          <ErrorNote error={save.error} />
          {saved ? (
            <p className="ok" role="status">
              Saved.
            </p>
          ) : null}
          <Button kind="primary" onClick={() => void save.run()} busy={save.busy} busyText="Saving…">
            Save access
          </Button>
        </fieldset>
      ) : null}
    </>
  );
}

function UserCheck({
  user,
  checked,
  onChange,
}: {
  user: UserRow;
  checked: boolean;
  onChange: (on: boolean) => void;
}) {
  const id = useId();
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>
        {user.name}
        {user.role === 'admin' ? ' (admin)' : ''}
      </label>
    </div>
  );
}
