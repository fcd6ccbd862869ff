import { useState } from 'react';
import { api, seg } from '../api.js';
import { OriginBadge, StateBadge, THIRD_PARTY_WARNING } from '../components/badges.js';
import { Badge, Button, Dialog, ErrorNote, Loading } from '../components/ui.js';
import { useAction, useInterval, useLoad } from '../hooks.js';
import { appOf, BUSY_STATES, type InstalledApp, type ReleaseDetails, type StoreApp } from '../types.js';
import { openApp } from './open.js';

/**
 * Install an app: first the release's permissions (fetched and verified by
 * the cloud), the admin confirms, then the install's progress until it runs.
 */
export function InstallDialog(props: { app: StoreApp; version: string; onClose: () => void }) {
  const { app, version } = props;
  const details = useLoad(
    (signal) =>
      api<ReleaseDetails>('GET', `/api/v1/store/apps/${seg(app.id)}/versions/${seg(version)}`, { signal }),
    [app.id, version],
  );
  const [installed, setInstalled] = useState<InstalledApp | null>(null);
  const install = useAction(async () => {
    const res = await api<{ app: InstalledApp }>('POST', '/api/v1/apps', {
      body: { app_id: app.id, version },
    });
    setInstalled(res.app);
  });
  const name = details.data?.manifest.name ?? app.id;
  return (
    <Dialog title={`Install ${name} ${version}`} onClose={props.onClose}>
      {installed ? (
        <Progress initial={installed} />
      ) : (
        <>
          {details.error ? <ErrorNote error={details.error} /> : null}
          {!details.data && !details.error ? <Loading what="and checking the release" /> : null}
          {details.data ? <Permissions details={details.data} /> : null}
          <ErrorNote error={install.error} />
          <div className="actions">
            <Button
              kind="primary"
              onClick={() => void install.run()}
              busy={install.busy}
              busyText="Starting the install…"
              disabled={!details.data}
            >
              {`Install ${version}`}
            </Button>
            <Button onClick={props.onClose}>Cancel</Button>
          </div>
        </>
      )}
    </Dialog>
  );
}

function Permissions({ details }: { details: ReleaseDetails }) {
  const { manifest, permissions } = details;
  return (
    <div className="permissions">
      <p>
        <OriginBadge official={details.official} /> by {manifest.maintainer}
      </p>
      {manifest.description ? <p>{manifest.description}</p> : null}
      {details.official ? null : (
        <p className="warning" role="note">
          {THIRD_PARTY_WARNING}
        </p>
      )}
      <h3>What this app gets</h3>
      <dl className="facts">
        <dt>Containers</dt>
        <dd>
          <ul className="plain-list">
            {permissions.services.map((s) => (
              <li key={s.name}>
                <strong>{s.name}</strong>
                {s.name === permissions.main_service ? ' (serves the app)' : ''}: image <code>{s.image}</code>
              </li>
            ))}
          </ul>
        </dd>
        <dt>Stored data (volumes)</dt>
        <dd>{permissions.volumes.length === 0 ? 'none' : permissions.volumes.map(describe).join(', ')}</dd>
        <dt>Web address</dt>
        <dd>
          the gateway reaches <code>{permissions.main_service}</code> on port {permissions.port}; no port is
          opened on this machine
        </dd>
        <dt>Resources</dt>
        <dd>{describeResources(permissions.resources)}</dd>
        <dt>Always</dt>
        <dd>
          its own network, no access to other apps or to Docker, no extra privileges (capped by this cloud’s
          limits)
        </dd>
      </dl>
    </div>
  );
}

/** Follows GET /api/v1/apps/:id until the install ends (running or failed). */
function Progress({ initial }: { initial: InstalledApp }) {
  const current = useLoad(
    (signal) =>
      api<{ app: InstalledApp } | InstalledApp>('GET', `/api/v1/apps/${seg(initial.id)}`, { signal }).then(
        appOf,
      ),
    [initial.id],
  );
  const app = current.data ?? initial;
  const busy = BUSY_STATES.has(app.state);
  useInterval(current.reload, 1000, busy);
  const open = useAction(() => openApp(app.id));
  return (
    <div role="status" aria-live="polite">
      <p>
        <StateBadge state={app.state} /> {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {app.state_detail || (busy ? 'Working…' : '')}
      </p>
      {current.error ? <ErrorNote error={current.error} /> : null}
      {app.state === 'running' ? (
        <>
          <p className="ok">
            <Badge tone="ok">Installed</Badge> {app.name} {app.version} is running.
          </p>
          <Button kind="primary" onClick={() => void open.run()} busy={open.busy} busyText="Opening…">
            Open
          </Button>
          <ErrorNote error={open.error} />
        </>
      ) : null}
      {app.state === 'failed' ? (
        <p className="error-inline">
          The install failed. See the detail above; the app is listed under Apps.
        </p>
      ) : null}
    </div>
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as { name?: unknown; target?: unknown; service?: unknown };
    if (typeof v.name === 'string') {
      const where = typeof v.target === 'string' ? ` at ${v.target}` : '';
      const who = typeof v.service === 'string' ? ` (${v.service})` : '';
      return `${v.name}${who}${where}`;
    }
  }
  return JSON.stringify(value);
}

function describeResources(value: unknown): string {
  if (value === null || value === undefined) return 'the cloud’s default limits';
  if (typeof value !== 'object') return String(value);
  const parts = Object.entries(value as Record<string, unknown>).map(([key, v]) => {
    if (typeof v === 'object' && v !== null) return `${key}: ${describeResources(v)}`;
    const label = key.replace(/_?bytes$/i, '').replaceAll('_', ' ');
    const shown = /bytes$/i.test(key) && typeof v === 'number' ? formatBytes(v) : String(v);
    return `${label} ${shown}`;
  });
  return parts.length === 0 ? 'the cloud’s default limits' : parts.join(', ');
}

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
