import { api } from '../api.js';
import { OriginBadge, StateBadge } from '../components/badges.js';
import { Button, ErrorNote, Loading } from '../components/ui.js';
import { useAction, useInterval, useLoad } from '../hooks.js';
import { useUser } from '../session.js';
import { BUSY_STATES, type InstalledApp } from '../types.js';
import { AdminAppActions } from './AppActions.js';
import { DockerNotice } from './DockerNotice.js';
import { openApp } from './open.js';

/** #/apps: the installed apps this user may open; admins also run them. */
export function AppsPage() {
  const user = useUser();
  const apps = useLoad((signal) => api<{ items: InstalledApp[] }>('GET', '/api/v1/apps', { signal }));
  const busy = apps.data?.items.some((a) => BUSY_STATES.has(a.state)) ?? false;
  useInterval(apps.reload, busy ? 1500 : 10_000, true);
  const admin = user.role === 'admin';
  return (
    <>
      <h1>Apps</h1>
      {admin ? <DockerNotice /> : null}
      {apps.error ? <ErrorNote error={apps.error} /> : null}
      {!apps.data && !apps.error ? <Loading what="your apps" /> : null}
      {apps.data && apps.data.items.length === 0 ? (
        <p className="notice">
          {admin ? (
            <>
              No apps are installed yet. <a href="#/store">Browse the store</a> to install one.
            </>
          ) : (
            'No apps are available to you yet. Ask an admin to install one or give you access.'
          )}
        </p>
      ) : null}
      <ul className="cards">
        {apps.data?.items.map((app) => (
          <li key={app.id}>
            <AppCard app={app} admin={admin} onChanged={apps.reload} />
          </li>
        ))}
      </ul>
    </>
  );
}

function AppCard({ app, admin, onChanged }: { app: InstalledApp; admin: boolean; onChanged: () => void }) {
  const open = useAction(() => openApp(app.id));
  const titleId = `app-${app.id}`;
  return (
    <article className="card" aria-labelledby={titleId}>
      <div className="card-head">
        <h2 id={titleId}>{app.name}</h2>
        <div className="badges">
          <StateBadge state={app.state} />
          <OriginBadge official={app.official} />
        </div>
      </div>
      <p className="muted">
        {app.id} · version {app.version}
        {admin ? ` · ${app.access_mode === 'all' ? 'every user' : 'chosen users'}` : ''}
      </p>
      {app.state_detail ? (
        <p className={app.state === 'failed' ? 'error-inline' : 'detail'} role="status">
          {BUSY_STATES.has(app.state) ? <span className="spinner" aria-hidden="true" /> : null}
          {app.state_detail}
        </p>
      ) : null}
      <div className="actions">
        <Button
          kind="primary"
          onClick={() => void open.run()}
          busy={open.busy}
          busyText="Opening…"
          disabled={app.state !== 'running'}
        >
          Open
        </Button>
        {admin ? <AdminAppActions app={app} onChanged={onChanged} /> : null}
      </div>
      <ErrorNote error={open.error} />
    </article>
  );
}
