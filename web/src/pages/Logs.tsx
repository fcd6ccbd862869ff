import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { api, seg, send } from '../api.js';
import { Button, ErrorNote, Field } from '../components/ui.js';
import { useLoad } from '../hooks.js';
import { appOf, type InstalledApp } from '../types.js';

/** Most text kept on screen; older lines drop off the top. */
const MAX_CHARS = 256 * 1024;

/** #/apps/<id>/logs (admin): the last lines, and optionally following new ones as they come. */
export function LogsPage({ app }: { app: string }) {
  const info = useLoad(
    (signal) =>
      api<{ app: InstalledApp } | InstalledApp>('GET', `/api/v1/apps/${seg(app)}`, { signal }).then(appOf),
    [app],
  );
  const services = serviceNames((info.data as { services?: unknown } | undefined)?.services);
  const [service, setService] = useState('');
  const [tail, setTail] = useState('200');
  const [follow, setFollow] = useState(false);
  const [text, setText] = useState('');
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const controller = useRef<AbortController | null>(null);
  const out = useRef<HTMLPreElement>(null);
  const followId = useId();
  const serviceId = useId();

  useEffect(() => () => controller.current?.abort(), []);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll to the end whenever text arrives
  useEffect(() => {
    const el = out.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [text]);

  const load = async () => {
    controller.current?.abort();
    const ctl = new AbortController();
    controller.current = ctl;
    setRunning(true);
    setError(null);
    setText('');
    const lines = Math.min(10_000, Math.max(0, Number.parseInt(tail, 10) || 0));
    const query = new URLSearchParams({ tail: String(lines), follow: String(follow) });
    if (service) query.set('service', service);
    try {
      const res = await send('GET', `/api/v1/apps/${seg(app)}/logs?${query}`, { signal: ctl.signal });
      const reader = res.body?.getReader();
      if (!reader) {
        setText(await res.text());
        return;
      }
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = decoder.decode(value, { stream: true });
        setText((t) => (t + chunk).slice(-MAX_CHARS));
      }
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
    } finally {
      if (controller.current === ctl) {
        controller.current = null;
        setRunning(false);
      }
    }
  };
  const stop = () => {
    controller.current?.abort();
    controller.current = null;
    setRunning(false);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void load();
  };

  return (
    <>
      <p>
        <a href="#/apps">← Apps</a>
      </p>
      <h1>Logs of {info.data?.name ?? app}</h1>
      <form className="card" onSubmit={submit}>
        {services.length > 0 ? (
          <div className="field">
            <label htmlFor={serviceId}>Service</label>
            <select id={serviceId} value={service} onChange={(e) => setService(e.target.value)}>
              <option value="">All services</option>
              {services.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
        ) : (
          <Field
            label="Service"
            value={service}
            onChange={setService}
            hint="Empty: all of the app’s services."
          />
        )}
        <Field label="Last lines" value={tail} onChange={setTail} inputMode="numeric" />
        <div className="check">
          <input
            id={followId}
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow(e.target.checked)}
          />
          <label htmlFor={followId}>Follow: keep showing new lines as they come</label>
        </div>
        <div className="actions">
          <Button type="submit" kind="primary" busy={running} busyText={follow ? 'Following…' : 'Loading…'}>
            Show logs
          </Button>
          {running ? <Button onClick={stop}>Stop</Button> : null}
        </div>
      </form>
      <ErrorNote error={error ?? info.error} />
      <pre className="logs" ref={out} role="log" aria-label="Log output">
        {text || (running ? '' : 'No log lines shown yet.')}
      </pre>
    </>
  );
}

function serviceNames(services: unknown): string[] {
  if (!Array.isArray(services)) return [];
  return services
    .map((s) =>
      typeof s === 'string'
        ? s
        : ((s as { name?: unknown; service?: unknown })?.name ?? (s as { service?: unknown })?.service),
    )
    .filter((s): s is string => typeof s === 'string');
}
