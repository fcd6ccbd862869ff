import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely, Selectable } from 'kysely';
import { isDatabaseDown, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { afterCursor, decodeCursor, type PageQuery, toPage } from '../../core/http/pagination.js';
import type { Logger } from '../../core/log.js';
import {
  initCa,
  issueCertificate,
  loadTlsDir,
  ROLES,
  type Role,
  signCertificate,
  TLS_FILES,
  type TlsMaterial,
  writeTlsDir,
} from '../../core/tls.js';
import { normalizeSerial } from '../../core/trust.js';
import type { CertificatesTable, Database } from '../db/schema.js';
import { checkHosts, csrPublicKey } from './csr.js';

export type CertificateRow = Selectable<CertificatesTable>;

/** What the CA hands back for a signed request. */
export interface IssuedCertificate {
  certificatePem: string;
  caPem: string;
  /** Normal form (core/trust.ts normalizeSerial): lower-case hex, no leading zeros. */
  serial: string;
  notAfter: string;
}

/** A certificate as the API shows it. */
export interface CertificateView {
  serial: string;
  name: string;
  role: string;
  hosts: string[];
  issued_at: string;
  not_after: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

/** Most revoked serials handed out (TrustState keeps as many). */
const MAX_REVOKED = 100_000;
/** Rows of certificates expired this long ago are deleted. */
const KEEP_EXPIRED_MS = 30 * 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

/**
 * The built-in CA: its key (0600) stays in the manager's data folder. It
 * issues the manager's own certificate and, through enrolment and renewal,
 * every component's.
 */
export class CertificateAuthority {
  readonly caPem: string;
  /** SHA-256 of the CA certificate (DER), lower-case hex: what join tokens pin. */
  readonly fingerprint: string;

  private revokedCache: { serials: string[]; at: number } | undefined;
  private lastPrune = 0;

  private constructor(
    readonly dir: string,
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly cacheRefreshMs: number,
  ) {
    this.caPem = readFileSync(join(dir, TLS_FILES.ca), 'utf8');
    this.fingerprint = caFingerprint(this.caPem);
  }

  /**
   * Opens the CA in `<data>/ca`, creating it on first start. `cacheRefreshMs`
   * bounds how stale {@link revokedSerials} may be for revocations made by
   * another manager replica (this one's own take effect at once).
   */
  static async open(
    dataDir: string,
    db: Kysely<Database>,
    log: Logger,
    options: { cacheRefreshMs?: number } = {},
  ): Promise<CertificateAuthority> {
    const dir = join(dataDir, 'ca');
    if (!existsSync(join(dir, TLS_FILES.caKey))) {
      await initCa(dir, { name: 'Warren CA' });
      log.info({ dir }, 'created the built-in CA');
    }
    return new CertificateAuthority(dir, db, log, options.cacheRefreshMs ?? 5_000);
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
    await this.record(material.cert, 'manager', 'manager', hosts);
    this.log.info({ dir }, 'issued the manager certificate');
    return material;
  }

  /** Keeps a row per issued certificate, so it can be listed, renewed and revoked. */
  async record(certPem: string, name: string, role: string, hosts: string[] = []): Promise<string> {
    const cert = new X509Certificate(certPem);
    const serial = normalizeSerial(cert.serialNumber);
    await this.db
      .insertInto('certificates')
      .values({
        serial,
        name,
        role,
        hosts: JSON.stringify(hosts),
        issued_at: new Date(cert.validFrom).toISOString(),
        not_after: new Date(cert.validTo).toISOString(),
        revoked_at: null,
        revoked_by: null,
      })
      .execute();
    return serial;
  }

  /**
   * Issues a certificate with a new key made here (for `warren up`, which
   * runs every component on this machine, and for tests). Components
   * elsewhere enrol with a CSR instead, so their key never travels.
   */
  async issue(options: {
    name: string;
    role: Role;
    hosts?: string[];
    lifetimeMs: number;
  }): Promise<TlsMaterial & { serial: string }> {
    const hosts = checkHosts(options.hosts ?? []);
    const material = await issueCertificate(this.dir, { ...options, hosts });
    const serial = await this.record(material.cert, options.name, options.role, hosts);
    return { ...material, serial };
  }

  /**
   * Signs a certificate request: proof of possession is checked, and the
   * certificate carries the name, role and hosts given here — whatever the
   * request's own subject or extensions say is ignored.
   */
  async signCsr(
    csrPem: string,
    subject: { name: string; role: string; hosts?: string[] },
    lifetimeMs: number,
  ): Promise<IssuedCertificate> {
    if (!(ROLES as readonly string[]).includes(subject.role)) {
      throw new WarrenError('BAD_ROLE', `'${subject.role}' is not a certificate role`, 400);
    }
    if (!(lifetimeMs > 0)) throw new WarrenError('BAD_LIFETIME', 'a certificate needs a positive life', 400);
    const hosts = checkHosts(subject.hosts ?? []);
    const publicKey = await csrPublicKey(csrPem);
    const { ca, cert } = await signCertificate(
      this.dir,
      { name: subject.name, role: subject.role as Role, hosts, lifetimeMs, issuerHostname: false },
      publicKey,
    );
    const serial = await this.record(cert, subject.name, subject.role, hosts);
    void this.pruneExpired();
    return {
      certificatePem: cert,
      caPem: ca,
      serial,
      notAfter: new Date(new X509Certificate(cert).validTo).toISOString(),
    };
  }

  async certificate(serial: string): Promise<CertificateRow | undefined> {
    return this.db
      .selectFrom('certificates')
      .selectAll()
      .where('serial', '=', normalizeSerial(serial))
      .executeTakeFirst();
  }

  /** Roles of the certificates of `name` that are neither revoked nor expired. */
  async liveRoles(name: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select('role')
      .distinct()
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .where('not_after', '>', nowIso())
      .execute();
    return rows.map((r) => r.role);
  }

  /** Newest first; `name` narrows to one component. */
  async list(query: PageQuery & { name?: string }) {
    const after = decodeCursor(query.cursor);
    let q = this.db.selectFrom('certificates').selectAll();
    if (query.name) q = q.where('name', '=', query.name);
    if (after) {
      q = q.where(afterCursor('issued_at', 'serial', '<', after));
    }
    const rows = await q
      .orderBy('issued_at', 'desc')
      .orderBy('serial', 'desc')
      .limit(query.limit + 1)
      .execute();
    return toPage(rows, query.limit, (r) => [r.issued_at, r.serial], certificateView);
  }

  /**
   * Revokes one certificate. Revoking again changes nothing (`changed` false).
   * The manager's own certificate is refused: schedulers would then refuse
   * the manager itself.
   */
  async revoke(serial: string, actor: string): Promise<{ certificate: CertificateView; changed: boolean }> {
    const row = await this.certificate(serial);
    if (!row) throw new WarrenError('CERTIFICATE_NOT_FOUND', `no certificate with serial ${serial}`, 404);
    if (row.role === 'manager') {
      throw new WarrenError('CANNOT_REVOKE_MANAGER', "the manager's own certificate cannot be revoked", 400);
    }
    if (row.revoked_at) return { certificate: certificateView(row), changed: false };
    const at = nowIso();
    const result = await this.db
      .updateTable('certificates')
      .set({ revoked_at: at, revoked_by: actor })
      .where('serial', '=', row.serial)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    this.revokedCache = undefined;
    const changed = Number(result.numUpdatedRows) > 0;
    const after = changed
      ? { ...row, revoked_at: at, revoked_by: actor }
      : ((await this.certificate(serial)) ?? row);
    return { certificate: certificateView(after), changed };
  }

  /** Revokes every live certificate of a component; returns the serials revoked now. */
  async revokeName(name: string, actor: string): Promise<string[]> {
    const live = await this.db
      .selectFrom('certificates')
      .select(['serial', 'role'])
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .where('not_after', '>', nowIso())
      .execute();
    const serials = live.filter((r) => r.role !== 'manager').map((r) => r.serial);
    if (serials.length === 0) return [];
    await this.db
      .updateTable('certificates')
      .set({ revoked_at: nowIso(), revoked_by: actor })
      .where('serial', 'in', serials)
      .where('revoked_at', 'is', null)
      .execute();
    this.revokedCache = undefined;
    return serials;
  }

  /**
   * Serials of revoked certificates that have not expired yet (an expired one
   * is refused by TLS anyway): what components receive on Sync. Served from
   * memory for `cacheRefreshMs`, and from the last good copy while the
   * database is down.
   */
  async revokedSerials(): Promise<string[]> {
    const cached = this.revokedCache;
    const now = Date.now();
    if (cached && now - cached.at < this.cacheRefreshMs) return cached.serials;
    try {
      const rows = await this.db
        .selectFrom('certificates')
        .select('serial')
        .where('revoked_at', 'is not', null)
        .where('not_after', '>', new Date(now).toISOString())
        .orderBy('serial')
        .limit(MAX_REVOKED)
        .execute();
      const serials = rows.map((r) => r.serial);
      this.revokedCache = { serials, at: now };
      return serials;
    } catch (err) {
      if (cached && isDatabaseDown(err)) return cached.serials;
      throw err;
    }
  }

  /** Drops rows of certificates long expired, at most once an hour: the table stays bounded. */
  private async pruneExpired(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    try {
      await this.db
        .deleteFrom('certificates')
        .where('not_after', '<', new Date(now - KEEP_EXPIRED_MS).toISOString())
        .execute();
    } catch (err) {
      this.log.warn({ err }, 'pruning expired certificates failed');
    }
  }
}

export function certificateView(row: CertificateRow): CertificateView {
  return {
    serial: row.serial,
    name: row.name,
    role: row.role,
    hosts: JSON.parse(row.hosts) as string[],
    issued_at: row.issued_at,
    not_after: row.not_after,
    revoked_at: row.revoked_at,
    revoked_by: row.revoked_by,
  };
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
