import { useId, useState } from 'react';
import { api, seg } from '../api.js';
import { Badge, Button, Dialog, ErrorNote, formatDate, Loading, OneTime } from '../components/ui.js';
import { useAction, useLoad } from '../hooks.js';
import { useUser } from '../session.js';
import type { Invitation, Role, UserRow } from '../types.js';

/** #/users (admin): the users, invitations, roles, password resets. */
export function UsersPage() {
  const users = useLoad((signal) => api<{ items: UserRow[] }>('GET', '/api/v1/users', { signal }));
  return (
    <>
      <h1>Users</h1>
      <Invite />
      <h2>Everyone with an account</h2>
      <ErrorNote error={users.error} />
      {!users.data && !users.error ? <Loading what="the users" /> : null}
      <ul className="cards">
        {users.data?.items.map((u) => (
          <li key={u.id}>
            <UserCard user={u} onChanged={users.reload} />
          </li>
        ))}
      </ul>
    </>
  );
}

function Invite() {
  const [role, setRole] = useState<Role>('user');
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const roleId = useId();
  const invite = useAction(async () => {
    setInvitation(null);
    setInvitation(await api<Invitation>('POST', '/api/v1/invitations', { body: { role } }));
  });
  return (
    <section className="card" aria-labelledby={`${roleId}-title`}>
      <h2 id={`${roleId}-title`}>Invite someone</h2>
      <p>
        An invitation is a link that works once. Send it to the person by a channel you trust. A user opens
        the apps they are given; an admin manages apps, users and the cloud.
      </p>
      <div className="actions">
        <div className="field inline">
          <label htmlFor={roleId}>Role</label>
          <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="user">User</option>
            <option value="admin">Admin</option>
          </select>
        </div>
        <Button kind="primary" onClick={() => void invite.run()} busy={invite.busy} busyText="Creating…">
          Create invitation link
        </Button>
      </div>
      <ErrorNote error={invite.error} />
      {invitation ? (
        <OneTime
          label="Invitation link:"
          value={invitation.url}
          note={`Valid until ${formatDate(invitation.expires_at)}, for one account. It is shown only this once.`}
        />
      ) : null}
    </section>
  );
}

function UserCard({ user, onChanged }: { user: UserRow; onChanged: () => void }) {
  const me = useUser();
  const roleId = useId();
  const [password, setPassword] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<'reset' | 'delete' | null>(null);
  const changeRole = useAction(async (role: Role) => {
    await api('PATCH', `/api/v1/users/${seg(user.id)}`, { body: { role } });
    onChanged();
  });
  const reset = useAction(async () => {
    const res = await api<{ password: string }>('POST', `/api/v1/users/${seg(user.id)}/reset-password`);
    setPassword(res.password);
    setConfirm(null);
  });
  const remove = useAction(async () => {
    await api('DELETE', `/api/v1/users/${seg(user.id)}`);
    setConfirm(null);
    onChanged();
  });
  const self = user.id === me.id;
  return (
    <article className="card" aria-label={`User ${user.name}`}>
      <div className="card-head">
        <h3>
          {user.name}
          {self ? ' (you)' : ''}
        </h3>
        <div className="badges">
          <Badge tone={user.role === 'admin' ? 'info' : 'muted'}>
            {user.role === 'admin' ? 'Admin' : 'User'}
          </Badge>
          {user.totp ? <Badge tone="ok">Second factor</Badge> : null}
        </div>
      </div>
      <p className="muted">Since {formatDate(user.created_at)}</p>
      <div className="actions">
        <div className="field inline">
          <label htmlFor={roleId}>Role</label>
          <select
            id={roleId}
            value={user.role}
            disabled={changeRole.busy}
            onChange={(e) => void changeRole.run(e.target.value as Role)}
          >
            <option value="user">User</option>
            <option value="admin">Admin</option>
          </select>
        </div>
        {changeRole.busy ? (
          <span role="status">
            <span className="spinner" aria-hidden="true" />
            Saving…
          </span>
        ) : null}
        <Button onClick={() => setConfirm('reset')}>Reset password</Button>
        <Button kind="danger" onClick={() => setConfirm('delete')}>
          Delete
        </Button>
      </div>
      <ErrorNote error={changeRole.error} />
      {password ? (
        <OneTime
          label={`New password for ${user.name}:`}
          value={password}
          note="They must change it when they next sign in. It is shown only this once."
        />
      ) : null}
      {confirm === 'reset' ? (
        <Dialog title={`Reset the password of ${user.name}?`} onClose={() => setConfirm(null)}>
          <p>
            A new one-time password is made and shown to you once. {user.name} must choose a new one at the
            next sign-in.
          </p>
          <ErrorNote error={reset.error} />
          <div className="actions">
            <Button kind="primary" onClick={() => void reset.run()} busy={reset.busy} busyText="Resetting…">
              Reset password
            </Button>
            <Button onClick={() => setConfirm(null)}>Cancel</Button>
          </div>
        </Dialog>
      ) : null}
      {confirm === 'delete' ? (
        <Dialog title={`Delete ${user.name}?`} onClose={() => setConfirm(null)}>
          <p>Their account and sessions end now. This cannot be undone.</p>
          <ErrorNote error={remove.error} />
          <div className="actions">
            <Button kind="danger" onClick={() => void remove.run()} busy={remove.busy} busyText="Deleting…">
              {`Delete ${user.name}`}
            </Button>
            <Button onClick={() => setConfirm(null)}>Cancel</Button>
          </div>
        </Dialog>
      ) : null}
    </article>
  );
}
