import { useEffect, useRef } from 'react';
import { ErrorNote } from '../components/ui.js';
import { useAction } from '../hooks.js';
import { openApp } from './open.js';

/** #/open/<app>: asks for a handoff and goes to the app. */
export function OpenAppPage({ app }: { app: string }) {
  const open = useAction(() => openApp(app));
  const started = useRef(false);
  useEffect(() => {
    // Once, even under StrictMode's double effects: a handoff secret is single-use.
    if (started.current) return;
    started.current = true;
    void open.run();
  }, [open.run]);
  return (
    <>
      <h1>Opening {app}</h1>
      {open.error ? (
        <>
          <ErrorNote error={open.error} />
          <p>
            <button type="button" className="btn btn-primary" onClick={() => void open.run()}>
              Try again
            </button>{' '}
            <a href="#/apps">Back to your apps</a>
          </p>
        </>
      ) : (
        <p role="status">
          <span className="spinner" aria-hidden="true" />
          Taking you to {app}…
        </p>
      )}
    </>
  );
}
