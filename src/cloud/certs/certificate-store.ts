import { createPrivateKey, X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import {
  type CertificateFileSet,
  readCertificateFiles,
  recoverCertificateFiles,
  replaceCertificateFiles,
} from './files.js';
import { createSelfSigned, SELF_SIGNED_WARNING } from './self-signed.js';
import {
  type CertificateSummary,
  normalizeDomain,
  summarize,
  type ValidatedCertificate,
  validateCertificate,
} from './validate-upload.js';
import { dnsNames } from './x509.js';

/*
 * The certificate the gateway serves: kept in <dir> (files.ts), made
 * self-signed on first start, replaced by an upload or an ACME order, and
 * renewed before it expires (ACME with a DNS hook; self-signed by making a
 * new one). Listeners (the gateway's setCertificate) hear of every change.
 */

export type CertificateSource = 'self-signed' | 'uploaded' | 'acme';

export interface ActiveCertificate {
  source: CertificateSource;
  /** The chain, leaf first (PEM). */
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  installedAt: string;
}

/** Gets and installs a new certificate unattended; throws when it cannot. */
export type CertificateRenewer = () => Promise<void>;

export interface CertificateStoreOptions {
  /** `<data>/certs` (made 0700). */
  dir: string;
  domain: string;
  log: Logger;
  /** The clock; default Date.now (tests move it to reach renewal time). */
  now?: () => number;
  /** Roots an uploaded chain may end at without including them; default node's Mozilla list. */
  trustedRoots?: readonly string[];
  /** How often the renewal loop looks at the certificate; default one hour. */
  checkIntervalMs?: number;
  /** Failed renewals: attempts before pausing (default 5), first back-off (1 min), longest (1 h), pause (24 h). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; pauseMs?: number };
}

export interface RenewalStatus {
  /** When renewal is (or was) due. */
  renewAt: string;
  lastAttemptAt: string | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  failures: number;
}

const DAY = 86_400_000;
/** Renewal starts with this much life left at most… */
const RENEW_MAX_LEFT_MS = 30 * DAY;
/** …and with a third of the life left for shorter-lived certificates. */
const RENEW_SHARE = 1 / 3;

/**
 * When a certificate is due for renewal: with a third of its life left, but
 * no earlier than 30 days before it expires (a one-year certificate is
 * renewed at 30 days left, a 90-day ACME one at 30, a 6-day one at 2), so a
 * short-lived certificate never counts as due for all of its life.
 */
export function renewalTime(notBefore: number, notAfter: number): number {
  const left = Math.min(RENEW_MAX_LEFT_MS, (notAfter - notBefore) * RENEW_SHARE);
  return notAfter - left;
}

function validity(certPem: string): { notBefore: number; notAfter: number } {
  const leaf = new X509Certificate(certPem);
  return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
}

export class CertificateStore {
  private active!: ActiveCertificate;
  private readonly listeners = new Set<(cert: ActiveCertificate) => void>();
  private readonly domain: string;
  private readonly now: () => number;
  private readonly trustedRoots: readonly string[];
  private renewer: CertificateRenewer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private renewing: Promise<boolean> | undefined;
  private failures = 0;
  private lastAttemptAt: number | null = null;
  private lastError: string | null = null;
  private nextAttemptAt: number | null = null;

  private constructor(private readonly options: CertificateStoreOptions) {
    this.domain = normalizeDomain(options.domain);
    this.now = options.now ?? Date.now;
    this.trustedRoots = options.trustedRoots ?? rootCertificates;
  }

  /** Loads the active certificate (repairing an interrupted replace), or makes the self-signed one. */
  static async open(options: CertificateStoreOptions): Promise<CertificateStore> {
    const store = new CertificateStore(options);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const { dir, log } = this.options;
    recoverCertificateFiles(dir);
    const files = readCertificateFiles(dir);
    const loaded = this.parse(files);
    if (loaded?.source === 'self-signed' && !this.coversDomain(loaded.certPem)) {
      log.info({ domain: this.domain }, 'the domain changed: making a new self-signed certificate');
    } else if (loaded) {
      this.active = loaded;
      return;
    } else if (files) {
      const previous = this.parse(readCertificateFiles(dir, '.prev'));
      if (previous) {
        log.error(
          { dir },
          'the active certificate files are unreadable or do not match; going back to the previous ones',
        );
        this.write(previous);
        return;
      }
      log.error({ dir }, 'the active certificate files are unreadable or do not match');
    }
    await this.makeSelfSigned();
  }

  /** Reads a file set; undefined unless the chain parses and the key is the leaf's. */
  private parse(files: CertificateFileSet | undefined): ActiveCertificate | undefined {
    if (!files) return undefined;
    try {
      const meta = JSON.parse(files.source) as { source?: unknown; installed_at?: unknown };
      const source = meta.source;
      if (source !== 'self-signed' && source !== 'uploaded' && source !== 'acme') return undefined;
      if (!new X509Certificate(files.cert).checkPrivateKey(createPrivateKey(files.key))) return undefined;
      return {
        source,
        certPem: files.cert,
        keyPem: files.key,
        installedAt: typeof meta.installed_at === 'string' ? meta.installed_at : '',
      };
    } catch {
      return undefined;
    }
  }

  private coversDomain(certPem: string): boolean {
    const names = dnsNames(certPem);
    return names.includes(this.domain) && names.includes(`*.${this.domain}`);
  }

  private async makeSelfSigned(): Promise<ActiveCertificate> {
    const { certPem, keyPem } = await createSelfSigned(this.domain, this.now());
    const cert = this.write({
      source: 'self-signed',
      certPem,
      keyPem,
      installedAt: new Date(this.now()).toISOString(),
    });
    this.options.log.warn(
      { domain: this.domain, fingerprint: new X509Certificate(certPem).fingerprint256 },
      'made a self-signed certificate: browsers will warn until a trusted one is uploaded or issued by ACME',
    );
    return cert;
  }

  private write(cert: ActiveCertificate): ActiveCertificate {
    const fingerprint = new X509Certificate(cert.certPem).fingerprint256;
    replaceCertificateFiles(this.options.dir, {
      cert: cert.certPem,
      key: cert.keyPem,
      source: `${JSON.stringify({ source: cert.source, installed_at: cert.installedAt, fingerprint_sha256: fingerprint, domain: this.domain }, null, 2)}\n`,
    });
    this.active = cert;
    return cert;
  }

  /** The certificate being served. */
  current(): ActiveCertificate {
    return this.active;
  }

  /** Calls `listener` after every change of certificate; returns the unsubscribe function. */
  onChange(listener: (cert: ActiveCertificate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks a chain and key against the domain, the clock and the trusted roots (throws a WarrenError). */
  validate(
    input: { certificatePem: string; keyPem: string },
    acceptUnknownRoot = false,
  ): ValidatedCertificate {
    return validateCertificate(input, {
      domain: this.domain,
      now: this.now(),
      trustedRoots: this.trustedRoots,
      acceptUnknownRoot,
    });
  }

  /**
   * Validates and installs a chain and key. Nothing is written, and the served
   * certificate stays, unless every check passes. A chain from the ACME
   * server may end at a root this machine does not know (a private ACME CA).
   */
  install(
    source: CertificateSource,
    input: { certificatePem: string; keyPem: string },
  ): Promise<ActiveCertificate> {
    return this.serialized(async () => {
      const checked = this.validate(input, source === 'acme');
      const cert = this.write({
        source,
        certPem: checked.chainPem,
        keyPem: checked.keyPem,
        installedAt: new Date(this.now()).toISOString(),
      });
      this.resetRenewal();
      this.options.log.info(
        { source, names: checked.summary.names, notAfter: checked.summary.notAfter },
        'certificate installed',
      );
      this.emit(cert);
      return cert;
    });
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emit(cert: ActiveCertificate): void {
    for (const listener of this.listeners) {
      try {
        listener(cert);
      } catch (err) {
        this.options.log.error({ err: errorMessage(err) }, 'a certificate listener failed');
      }
    }
  }

  /** The served certificate, as the console shows it. */
  summary(): CertificateSummary {
    return summarize(this.active.certPem, this.now());
  }

  /** Everything the console should warn about, in words. */
  warnings(): string[] {
    const out: string[] = [];
    const cert = this.active;
    const summary = this.summary();
    if (cert.source === 'self-signed') out.push(SELF_SIGNED_WARNING);
    else if (summary.selfSigned) {
      out.push(
        'This certificate is self-signed: browsers warn about it, and it is open to man-in-the-middle attacks.',
      );
    }
    const expiry = summary.warning;
    if (expiry) out.push(`The certificate ${expiry.replace(/^the certificate /, '')}.`);
    if (!this.coversDomain(cert.certPem)) {
      out.push(`The certificate does not cover '${this.domain}' and '*.${this.domain}'.`);
    }
    if (this.lastError) out.push(`Automatic renewal failed: ${this.lastError}`);
    else if (cert.source === 'acme' && !this.renewer && this.isDue()) {
      out.push(
        'The certificate is due for renewal: without a DNS hook, request a new one with ACME (DNS-01).',
      );
    }
    return out;
  }

  renewalStatus(): RenewalStatus {
    const { notBefore, notAfter } = validity(this.active.certPem);
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    return {
      renewAt: new Date(renewalTime(notBefore, notAfter)).toISOString(),
      lastAttemptAt: iso(this.lastAttemptAt),
      lastError: this.lastError,
      nextAttemptAt: iso(this.nextAttemptAt),
      failures: this.failures,
    };
  }

  /** Sets how an ACME certificate is renewed unattended (acme.ts with a DNS hook), or none. */
  setRenewer(renewer: CertificateRenewer | undefined): void {
    this.renewer = renewer;
  }

  private isDue(): boolean {
    const { notBefore, notAfter } = validity(this.active.certPem);
    return this.now() >= renewalTime(notBefore, notAfter);
  }

  private resetRenewal(): void {
    this.failures = 0;
    this.lastError = null;
    this.nextAttemptAt = null;
  }

  /**
   * Renews the certificate if it is due (and a retry is not waiting out its
   * back-off): a self-signed one is made anew, an ACME one through the
   * renewer. Resolves true when the certificate was replaced.
   */
  renewIfDue(): Promise<boolean> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<boolean> {
    const now = this.now();
    if (!this.isDue() || (this.nextAttemptAt !== null && now < this.nextAttemptAt)) return false;
    const source = this.active.source;
    if (source === 'uploaded') return false;
    if (source === 'self-signed') {
      const cert = await this.serialized(() => this.makeSelfSigned());
      this.emit(cert);
      return true;
    }
    if (!this.renewer) return false;
    const before = this.active;
    this.lastAttemptAt = now;
    try {
      await this.renewer();
      this.resetRenewal();
      return this.active !== before;
    } catch (err) {
      this.failures++;
      this.lastError = errorMessage(err);
      this.nextAttemptAt = this.now() + this.backoff();
      this.options.log.warn(
        {
          err: this.lastError,
          failures: this.failures,
          nextAttemptAt: new Date(this.nextAttemptAt).toISOString(),
        },
        'certificate renewal failed',
      );
      return false;
    }
  }

  /** Wait after the latest failure: doubling from the base, a long pause after `attempts` failures in a row. */
  private backoff(): number {
    const retry = this.options.retry ?? {};
    const attempts = retry.attempts ?? 5;
    if (this.failures >= attempts) {
      this.failures = 0;
      return retry.pauseMs ?? DAY;
    }
    const base = retry.baseDelayMs ?? 60_000;
    return Math.min(retry.maxDelayMs ?? 3_600_000, base * 2 ** (this.failures - 1));
  }

  /** Starts the renewal loop (a look now, then every `checkIntervalMs`). */
  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.renewIfDue()
        .catch((err: unknown) =>
          this.options.log.error({ err: errorMessage(err) }, 'certificate renewal check failed'),
        )
        .finally(() => {
          if (!this.timer) return;
          this.timer = setTimeout(tick, this.options.checkIntervalMs ?? 3_600_000);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
