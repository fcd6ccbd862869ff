import { useId, useState } from 'react';
import { api, seg } from '../api.js';
import { Button, Dialog, ErrorNote } from '../components/ui.js';
import { useAction } from '../hooks.js';
import { BUSY_STATES, type InstalledApp } from '../types.js';

/** An admin's controls on an installed app: start, stop, restart, logs, access, uninstall. */
export function AdminAppActions({ app, onChanged }: { app: InstalledApp; onChanged: () => void }) {
  const [uninstalling, setUninstalling] = useState(false);
  const control = useAction(async (verb: 'start' | 'stop' | 'restart') => {
    await api('POST', `/api/v1/apps/${seg(app.id)}/${verb}`);
    onChanged();
  });
  const [verb, setVerb] = useState<string>('');
  const run = (v: 'start' | 'stop' | 'restart') => {
    setVerb(v);
    void control.run(v);
  };
  const between = BUSY_STATES.has(app.state);
  const busyText = { start: 'Starting…', stop: 'Stopping…', restart: 'Restarting…' } as Record<
    string,
    string
  >;
  return (
    <>
      {app.state === 'running' ? (
        <Button
          onClick={() => run('stop')}
          busy={control.busy && verb === 'stop'}
          busyText={busyText.stop}
          disabled={control.busy || between}
        >
          Stop
        </Button>
      ) : (
        <Button
          onClick={() => run('start')}
          busy={control.busy && verb === 'start'}
          busyText={busyText.start}
          disabled={control.busy || between}
        >
          Start
        </Button>
      )}
      <Button
        onClick={() => run('restart')}
        busy={control.busy && verb === 'restart'}
        busyText={busyText.restart}
        disabled={control.busy || between}
      >
        Restart
      </Button>
      <a className="btn btn-plain" href={`#/apps/${seg(app.id)}/logs`}>
        Logs
      </a>
      <a className="btn btn-plain" href={`#/apps/${seg(app.id)}/access`}>
        Access
      </a>
      <Button kind="danger" onClick={() => setUninstalling(true)} disabled={app.state === 'removing'}>
        Uninstall
      </Button>
      {control.error ? <ErrorNote error={control.error} /> : null}
      {uninstalling ? (
        <UninstallDialog app={app} onClose={() => setUninstalling(false)} onDone={onChanged} />
      ) : null}
    </>
  );
}

function UninstallDialog(props: { app: InstalledApp; onClose: () => void; onDone: () => void }) {
  const { app } = props;
  const [keepData, setKeepData] = useState(true);
  const keepId = useId();
  const uninstall = useAction(async () => {
    await api('DELETE', `/api/v1/apps/${seg(app.id)}?keep_data=${keepData ? 'true' : 'false'}`);
    props.onDone();
    props.onClose();
  });
  return (
    <Dialog title={`Uninstall ${app.name}`} onClose={props.onClose}>
      <p>The app’s containers and network are removed. Users can no longer open it.</p>
      <div className="check">
        <input
          id={keepId}
          type="checkbox"
          checked={keepData}
          onChange={(e) => setKeepData(e.target.checked)}
        />
        <label htmlFor={keepId}>Keep the app’s data (its volumes), so a new install finds it again</label>
      </div>
      {!keepData ? (
        <p className="error-inline" role="alert">
          The app’s data will be deleted for good. This cannot be undone.
        </p>
      ) : null}
      <ErrorNote error={uninstall.error} />
      <div className="actions">
        <Button
          kind="danger"
          onClick={() => void uninstall.run()}
          busy={uninstall.busy}
          busyText="Uninstalling…"
        >
          {keepData ? `Uninstall ${app.name}, keep data` : `Uninstall ${app.name} and delete data`}
        </Button>
        <Button onClick={props.onClose}>Cancel</Button>
      </div>
    </Dialog>
  );
}
