import { type ReactNode, useEffect } from 'react';
import { api } from '../api.js';
import { useAction, useLoad } from '../hooks.js';
import { navigate } from '../navigation.js';
import type { Route } from '../routes.js';
import { useSession, useUser } from '../session.js';
import type { Certificate } from '../types.js';
import { Button, ErrorNote } from './ui.js';

/** Fired by the certificates page after a change, so the banner reloads. */
export const CERTIFICATE_CHANGED = 'warren:certificate-changed';

const LINKS: Array<{ page: Route['page']; label: string; admin?: boolean }> = [
  { page: 'apps', label: 'Apps' },
  { page: 'store', label: 'Store' },
  { page: 'users', label: 'Users', admin: true },
  { page: 'certificates', label: 'Certificates' },
  { page: 'settings', label: 'Settings' },
];

export function Layout({ route, children }: { route: Route; children: ReactNode }) {
  const user = useUser();
  const { signedOut } = useSession();
  const signOut = useAction(async () => {
    await api('POST', '/api/v1/logout');
    signedOut();
    navigate({ page: 'login' });
  });
  const current = route.page === 'logs' || route.page === 'access' ? 'apps' : route.page;
  return (
    <>
      <header className="top">
        <a className="brand" href="#/apps">
          Warren
        </a>
        <nav aria-label="Main">
          {LINKS.filter((l) => !l.admin || user.role === 'admin').map((l) => (
            <a key={l.page} href={`#/${l.page}`} aria-current={current === l.page ? 'page' : undefined}>
              {l.label}
            </a>
          ))}
        </nav>
        <div className="who">
          <span className="who-name">
            {user.name}
            {user.role === 'admin' ? ' (admin)' : ''}
          </span>
          <Button onClick={() => void signOut.run()} busy={signOut.busy} busyText="Signing out…">
            Sign out
          </Button>
        </div>
      </header>
      {signOut.error ? (
        <div className="page">
          <ErrorNote error={signOut.error} />
        </div>
      ) : null}
      {user.role === 'admin' ? <CertificateBanner /> : null}
      <main className="page">{children}</main>
    </>
  );
}

/** The admin's warning on every page: a self-signed certificate, or one that expires soon. */
function CertificateBanner() {
  const cert = useLoad((signal) => api<Certificate>('GET', '/api/v1/certificate', { signal }));
  const { reload } = cert;
  useEffect(() => {
    window.addEventListener(CERTIFICATE_CHANGED, reload);
    return () => window.removeEventListener(CERTIFICATE_CHANGED, reload);
  }, [reload]);
  const data = cert.data;
  if (!data) return null;
  if (data.source === 'self-signed') {
    return (
      <div className="banner banner-bad" role="alert">
        <strong>This cloud uses a self-signed certificate.</strong> Browsers warn about it, and nothing proves
        to your users that they reached this cloud and not an impostor.{' '}
        <a href="#/certificates">Upload a certificate or get one with ACME</a>.
      </div>
    );
  }
  if (data.warning) {
    return (
      <div className="banner banner-warn" role="alert">
        <strong>Certificate:</strong> {data.warning} <a href="#/certificates">Certificates</a>
      </div>
    );
  }
  return null;
}
