import { type FormEvent, useState } from 'react';
import { api } from '../api.js';
import { Button, CopyButton, ErrorNote, Field } from '../components/ui.js';
import { useAction } from '../hooks.js';
import type { AcmeOrder, Certificate } from '../types.js';

/** ACME DNS-01: ask for an order, show the TXT records to create, then complete it. */
export function AcmeSection({ onDone }: { onDone: (cert: Certificate) => void }) {
  const [email, setEmail] = useState('');
  const [directory, setDirectory] = useState('');
  const [order, setOrder] = useState<AcmeOrder | null>(null);
  const [done, setDone] = useState(false);
  const start = useAction(async () => {
    setDone(false);
    setOrder(null);
    const body = { email: email.trim(), ...(directory.trim() ? { directory_url: directory.trim() } : {}) };
    const res = await api<AcmeOrder | Certificate>('POST', '/api/v1/certificate/acme', { body });
    if ('txt_records' in res) setOrder(res);
    else {
      // A DNS provider hook created the records: the certificate is already in use.
      setDone(true);
      onDone(res);
    }
  });
  const complete = useAction(async () => {
    const cert = await api<Certificate>('POST', '/api/v1/certificate/acme/complete');
    setOrder(null);
    setDone(true);
    onDone(cert);
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void start.run();
  };
  return (
    <section className="card" aria-labelledby="acme-title">
      <h2 id="acme-title">Get a certificate with ACME (DNS-01)</h2>
      <p>
        A certificate authority such as Let’s Encrypt issues a wildcard certificate once you prove you control
        the domain by creating DNS TXT records.
      </p>
      <form onSubmit={submit}>
        <Field
          label="Email for the certificate authority"
          type="email"
          value={email}
          onChange={setEmail}
          required
          autoComplete="email"
        />
        <Field
          label="ACME directory URL (optional)"
          type="url"
          value={directory}
          onChange={setDirectory}
          hint="Empty: the cloud’s configured certificate authority."
        />
        <ErrorNote error={start.error} />
        <Button type="submit" kind="primary" busy={start.busy} busyText="Asking the certificate authority…">
          Request certificate
        </Button>
      </form>
      {order ? (
        <div className="onetime" role="status">
          <p>
            <strong>Create these DNS TXT records</strong>, wait until they are visible, then press Complete.
          </p>
          <ul className="plain-list">
            {order.txt_records.map((r) => (
              <li key={`${r.name} ${r.value}`} className="record">
                <div>
                  Name: <code className="secret">{r.name}</code> <CopyButton value={r.name} />
                </div>
                <div>
                  Value: <code className="secret">{r.value}</code> <CopyButton value={r.value} />
                </div>
              </li>
            ))}
          </ul>
          <ErrorNote error={complete.error} />
          <Button
            kind="primary"
            onClick={() => void complete.run()}
            busy={complete.busy}
            busyText="Checking the records and getting the certificate…"
          >
            Complete
          </Button>
        </div>
      ) : null}
      {done ? (
        <p className="ok" role="status">
          The certificate authority issued the certificate; it is in use now.
        </p>
      ) : null}
    </section>
  );
}
