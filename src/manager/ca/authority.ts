import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from '../../core/log.js';
import {
  initCa,
  issueCertificate,
  loadTlsDir,
  TLS_FILES,
  type TlsMaterial,
  writeTlsDir,
} from '../../core/tls.js';
import type { Database } from '../db/schema.js';

/**
 * The built-in CA: its key (0600) stays in the manager's data folder. It
 * issues the manager's own certificate and, through enrolment and renewal,
 * every component's.
 */
export class CertificateAuthority {
  readonly caPem: string;
  /** SHA-256 of the CA certificate (DER), lower-case hex: what join tokens pin. */
  readonly fingerprint: string;

  private constructor(
    readonly dir: string,
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
  ) {
    this.caPem = readFileSync(join(dir, TLS_FILES.ca), 'utf8');
    this.fingerprint = caFingerprint(this.caPem);
  }

  /** Opens the CA in `<data>/ca`, creating it on first start. */
  static async open(dataDir: string, db: Kysely<Database>, log: Logger): Promise<CertificateAuthority> {
    const dir = join(dataDir, 'ca');
    if (!existsSync(join(dir, TLS_FILES.caKey))) {
      await initCa(dir, { name: 'Warren CA' });
      log.info({ dir }, 'created the built-in CA');
    }
    return new CertificateAuthority(dir, db, log);
  }

  /**
   * The manager's own certificate (REST and RPC), in `<data>/tls`; reissued
   * when it is missing, names other hosts, or has less than a third of its life left.
   */
  async managerMaterial(dataDir: string, hosts: string[], lifetimeDays = 30): Promise<TlsMaterial> {
    const dir = join(dataDir, 'tls');
    if (existsSync(join(dir, TLS_FILES.cert))) {
      const current = loadTlsDir(dir);
      if (current.ca === this.caPem && stillGood(current.cert, hosts)) return current;
    }
    const material = await issueCertificate(this.dir, {
      role: 'manager',
      name: 'manager',
      hosts,
      days: lifetimeDays,
    });
    writeTlsDir(dir, material);
    await this.record(material.cert, 'manager', 'manager');
    this.log.info({ dir }, 'issued the manager certificate');
    return material;
  }

  /** Keeps a row per issued certificate, so it can be listed and revoked. */
  async record(certPem: string, name: string, role: string): Promise<void> {
    const cert = new X509Certificate(certPem);
    await this.db
      .insertInto('certificates')
      .values({
        serial: cert.serialNumber.toLowerCase(),
        name,
        role,
        issued_at: new Date(cert.validFrom).toISOString(),
        not_after: new Date(cert.validTo).toISOString(),
        revoked_at: null,
        revoked_by: null,
      })
      .execute();
  }
}

export function caFingerprint(caPem: string): string {
  return createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex');
}

function stillGood(certPem: string, hosts: string[]): boolean {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (Date.now() > to - (to - from) / 3) return false;
  const names = cert.subjectAltName ?? '';
  return hosts.every((h) => names.includes(h));
}
