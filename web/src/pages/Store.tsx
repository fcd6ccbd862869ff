import { useId, useState } from 'react';
import { api } from '../api.js';
import { OriginBadge, THIRD_PARTY_WARNING } from '../components/badges.js';
import { Button, ErrorNote, Loading } from '../components/ui.js';
import { useLoad } from '../hooks.js';
import { useUser } from '../session.js';
import type { StoreApp, StoreIndex } from '../types.js';
import { DockerNotice } from './DockerNotice.js';
import { InstallDialog } from './InstallDialog.js';

/** #/store: the apps in the store's signed index. */
export function StorePage() {
  const user = useUser();
  const index = useLoad((signal) => api<StoreIndex>('GET', '/api/v1/store/apps', { signal }));
  const [installing, setInstalling] = useState<{ app: StoreApp; version: string } | null>(null);
  const admin = user.role === 'admin';
  return (
    <>
      <h1>Store</h1>
      {admin ? <DockerNotice /> : <p className="muted">Only an admin can install apps.</p>}
      {index.error ? <ErrorNote error={index.error} /> : null}
      {!index.data && !index.error ? <Loading what="the store" /> : null}
      {index.data ? (
        <p className="muted">
          Index #{index.data.serial}, signed by the store, valid until{' '}
          {new Date(index.data.expires_at).toLocaleString()}.
        </p>
      ) : null}
      {index.data && index.data.apps.length === 0 ? (
        <p className="notice">The store has no apps yet.</p>
      ) : null}
      <ul className="cards">
        {index.data?.apps.map((app) => (
          <li key={app.id}>
            <StoreCard app={app} admin={admin} onInstall={(version) => setInstalling({ app, version })} />
          </li>
        ))}
      </ul>
      {installing ? (
        <InstallDialog
          app={installing.app}
          version={installing.version}
          onClose={() => {
            setInstalling(null);
            index.reload();
          }}
        />
      ) : null}
    </>
  );
}

function StoreCard(props: { app: StoreApp; admin: boolean; onInstall: (version: string) => void }) {
  const { app } = props;
  const available = app.versions.filter((v) => !v.yanked);
  const newest = available[available.length - 1]?.version ?? '';
  const [version, setVersion] = useState(newest);
  const selectId = useId();
  const titleId = `store-${app.id}`;
  return (
    <article className="card" aria-labelledby={titleId}>
      <div className="card-head">
        <h2 id={titleId}>{app.id}</h2>
        <div className="badges">
          <OriginBadge official={app.official} />
        </div>
      </div>
      {app.official ? null : (
        <p className="warning" role="note">
          {THIRD_PARTY_WARNING}
        </p>
      )}
      <p className="muted">
        Maintainer key {app.maintainer_key_id}
        {app.installed_version ? ` · installed: ${app.installed_version}` : ''}
      </p>
      {available.length === 0 ? (
        <p className="notice">Every version of this app was withdrawn by its maintainer.</p>
      ) : (
        <div className="actions">
          <div className="field inline">
            <label htmlFor={selectId}>Version</label>
            <select id={selectId} value={version} onChange={(e) => setVersion(e.target.value)}>
              {[...app.versions].reverse().map((v) => (
                <option key={v.version} value={v.version} disabled={v.yanked}>
                  {v.version}
                  {v.yanked ? ' (withdrawn)' : ''}
                  {v.version === app.installed_version ? ' (installed)' : ''}
                </option>
              ))}
            </select>
          </div>
          {props.admin ? (
            <Button
              kind="primary"
              onClick={() => props.onInstall(version)}
              disabled={!version || version === app.installed_version}
            >
              Install
            </Button>
          ) : null}
        </div>
      )}
    </article>
  );
}
