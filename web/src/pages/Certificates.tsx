import { type FormEvent, useId, useState } from 'react';
import { api } from '../api.js';
import { CERTIFICATE_CHANGED } from '../components/Layout.js';
import { Badge, Button, ErrorNote, formatDate, Loading } from '../components/ui.js';
import { useAction, useLoad } from '../hooks.js';
import { useUser } from '../session.js';
import type { Certificate } from '../types.js';
import { AcmeSection } from './Acme.js';

const SOURCES: Record<Certificate['source'], string> = {
  'self-signed': 'Self-signed (made by this cloud)',
  uploaded: 'Uploaded',
  acme: 'From a certificate authority (ACME)',
};

/** #/certificates: the certificate in use; admins replace it (upload or ACME DNS-01). */
export function CertificatesPage() {
  const user = useUser();
  const cert = useLoad((signal) => api<Certificate>('GET', '/api/v1/certificate', { signal }));
  const changed = (next: Certificate) => {
    cert.setData(next);
    window.dispatchEvent(new Event(CERTIFICATE_CHANGED));
  };
  return (
    <>
      <h1>Certificates</h1>
      <ErrorNote error={cert.error} />
      {!cert.data && !cert.error ? <Loading what="the certificate" /> : null}
      {cert.data ? <Current cert={cert.data} /> : null}
      {user.role === 'admin' ? (
        <>
          <Upload onDone={changed} />
          <AcmeSection onDone={changed} />
        </>
      ) : null}
    </>
  );
}

function Current({ cert }: { cert: Certificate }) {
  const tone =
    cert.source === 'self-signed' || cert.days_left < 7 ? 'bad' : cert.days_left < 30 ? 'warn' : 'ok';
  return (
    <section className="card" aria-label="Certificate in use">
      <h2>In use</h2>
      {cert.source === 'self-signed' ? (
        <p className="warning">
          A self-signed certificate: browsers warn about it, and nothing proves to your users that they
          reached this cloud. Replace it below.
        </p>
      ) : null}
      {cert.warning ? (
        <p className="warning" role="alert">
          {cert.warning}
        </p>
      ) : null}
      <dl className="facts">
        <dt>Source</dt>
        <dd>{SOURCES[cert.source] ?? cert.source}</dd>
        <dt>Names</dt>
        <dd>{cert.names.join(', ')}</dd>
        <dt>Valid from</dt>
        <dd>{formatDate(cert.not_before)}</dd>
        <dt>Expires</dt>
        <dd>
          {formatDate(cert.not_after)}{' '}
          <Badge tone={tone}>{cert.days_left < 0 ? 'expired' : `${cert.days_left} days left`}</Badge>
        </dd>
        <dt>SHA-256 fingerprint</dt>
        <dd>
          <code className="secret">{cert.fingerprint_sha256}</code>
        </dd>
      </dl>
    </section>
  );
}

function Upload({ onDone }: { onDone: (cert: Certificate) => void }) {
  const [certPem, setCertPem] = useState('');
  const [keyPem, setKeyPem] = useState('');
  const [done, setDone] = useState(false);
  const certId = useId();
  const keyId = useId();
  const upload = useAction(async () => {
    setDone(false);
    const cert = await api<Certificate>('PUT', '/api/v1/certificate', {
      body: { certificate_pem: certPem, key_pem: keyPem },
    });
    setKeyPem('');
    setDone(true);
    onDone(cert);
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void upload.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby={`${certId}-title`}>
      <h2 id={`${certId}-title`}>Upload a certificate</h2>
      <p>
        A PEM certificate chain (the certificate first, then its intermediates) for the cloud’s domain and its
        wildcard, and its private key.
      </p>
      <PemField id={certId} label="Certificate chain (PEM)" value={certPem} onChange={setCertPem} />
      <PemField id={keyId} label="Private key (PEM)" value={keyPem} onChange={setKeyPem} />
      <ErrorNote error={upload.error} />
      {done ? (
        <p className="ok" role="status">
          The new certificate is in use.
        </p>
      ) : null}
      <Button
        type="submit"
        kind="primary"
        busy={upload.busy}
        busyText="Checking and installing…"
        disabled={!certPem.trim() || !keyPem.trim()}
      >
        Upload certificate
      </Button>
    </form>
  );
}

function PemField(props: { id: string; label: string; value: string; onChange: (v: string) => void }) {
  const fileId = `${props.id}-file`;
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <textarea
        id={props.id}
        rows={5}
        spellCheck={false}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        placeholder="-----BEGIN …-----"
      />
      <label htmlFor={fileId} className="hint">
        or load it from a file:
      </label>
      <input
        id={fileId}
        type="file"
        accept=".pem,.crt,.key,.cer,text/plain"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file && file.size <= 256 * 1024) void file.text().then(props.onChange);
        }}
      />
    </div>
  );
}
