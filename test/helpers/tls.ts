import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  initCa,
  issueCertificate,
  type Role,
  TLS_FILES,
  type TlsMaterial,
  writeTlsDir,
} from '../../src/core/tls.js';

/** A certificate written as a `--tls-dir` (ca.crt, tls.crt, tls.key). */
export interface IssuedTls {
  dir: string;
  material: TlsMaterial;
}

/** A throwaway Warren CA for tests. */
export interface TestCa {
  /** The CA folder (ca.crt, ca.key), as `warren ca init --ca-dir` makes it. */
  caDir: string;
  /** PEM of the CA certificate. */
  caPem: string;
  /** Issues a certificate and writes it to `<dir>/certs/<name>`. */
  issue(role: Role, name: string, options?: { hosts?: string[]; days?: number }): Promise<IssuedTls>;
}

/**
 * Creates a CA in `<dir>/ca` with core/tls.ts, the same code as `warren ca init`.
 * Two calls with different folders give two CAs that do not trust each other,
 * which is how tests make an "untrusted" certificate.
 */
export async function makeTestCa(dir: string): Promise<TestCa> {
  const caDir = join(dir, 'ca');
  await initCa(caDir, { name: 'Warren test CA' });
  return {
    caDir,
    caPem: readFileSync(join(caDir, TLS_FILES.ca), 'utf8'),
    async issue(role, name, options = {}) {
      const material = await issueCertificate(caDir, { role, name, ...options });
      const tlsDir = join(dir, 'certs', name);
      writeTlsDir(tlsDir, material);
      return { dir: tlsDir, material };
    },
  };
}
