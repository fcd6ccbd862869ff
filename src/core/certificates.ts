import 'reflect-metadata';
import { createHash, createPrivateKey, timingSafeEqual, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as x509 from '@peculiar/x509';
import { errorMessage, WarrenError } from './errors.js';
import type { Logger } from './log.js';
import { certificateName, newKeys, pemKey, type TlsMaterial, writeTlsDir } from './tls.js';

/*
 * The component side of the built-in CA: join tokens, certificate requests,
 * and the keeper that renews a component's certificate before it expires.
 */

/** Renewal starts once this share of a certificate's life has passed. */
export const RENEW_AT = 2 / 3;
/** Longest wait between two attempts of a failing renewal. */
const MAX_RETRY_MS = 60_000;
/** Shortest pause between two renewals, so a clock gone wrong cannot make a hot loop. */
const MIN_RENEW_GAP_MS = 1_000;
/** setTimeout's longest delay (about 24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `wrj_<secret>_<SHA-256 of the CA certificate's DER, 64 hex>`. */
const JOIN_TOKEN = /^wrj_([A-Za-z0-9_-]{16,256})_([0-9a-f]{64})$/;

/** The CA fingerprint a join token pins; throws on anything that is not a join token. */
export function joinTokenFingerprint(token: string): string {
  const match = JOIN_TOKEN.exec(token.trim());
  if (!match) {
    throw new WarrenError(
      'BAD_JOIN_TOKEN',
      "this is not a join token (expected 'wrj_<secret>_<64 hex CA fingerprint>', from 'warren token create --scope enroll')",
      400,
    );
  }
  return match[2]!;
}

/** SHA-256 of a certificate's DER, lower-case hex. */
export function certificateFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** Whether the certificate's fingerprint is `expected`, compared in constant time. */
export function fingerprintMatches(pem: string, expected: string): boolean {
  const actual = Buffer.from(certificateFingerprint(pem), 'hex');
  const wanted = Buffer.from(expected.toLowerCase(), 'hex');
  return wanted.length === actual.length && timingSafeEqual(actual, wanted);
}

/** A new P-256 key and a PKCS#10 request for it, signed by it (proof of possession). */
export async function createCsr(name: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return { csrPem: csr.toString('pem'), keyPem: await pemKey(keys.privateKey) };
}

/** When a certificate became valid and when it expires (ms since the epoch). */
export interface Validity {
  notBefore: number;
  notAfter: number;
}

export function certificateValidity(pem: string): Validity {
  const cert = new X509Certificate(pem);
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** Milliseconds from `now` until the certificate is due for renewal (0 if it already is). */
export function renewalDelay(validity: Validity, now: number, renewAt = RENEW_AT): number {
  const due = validity.notBefore + (validity.notAfter - validity.notBefore) * renewAt;
  return Math.max(0, due - now);
}

/** Back-off after `failures` failed renewals: 1 s doubling up to a minute. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_MS, 1_000 * 2 ** Math.min(failures - 1, 16));
}

/**
 * Checks a certificate the manager sent back before anything is written:
 * signed by the CA we trust, for the key we generated, naming what we expect.
 */
export function checkIssued(
  caPem: string,
  certificatePem: string,
  keyPem: string,
  expected: { subject: string } | { name: string; role: string },
): void {
  const cert = new X509Certificate(certificatePem);
  const subject = cert.subject.replaceAll('\n', ', ');
  const wanted =
    'subject' in expected
      ? expected.subject.replaceAll('\n', ', ')
      : `CN=${expected.name}, OU=${expected.role}, O=warren`;
  const problem = !cert.verify(new X509Certificate(caPem).publicKey)
    ? 'is not signed by the pinned CA'
    : !cert.checkPrivateKey(createPrivateKey(keyPem))
      ? 'is not for the key generated here'
      : subject !== wanted
        ? `names '${subject}', not '${wanted}'`
        : undefined;
  if (problem)
    throw new WarrenError('CERTIFICATE_INVALID', `the certificate the manager sent ${problem}`, 502);
}

/** Asks the manager to sign `csrPem`, connecting with `tls` (the certificate being renewed). */
export type RenewFunction = (
  tls: TlsMaterial,
  csrPem: string,
) => Promise<{ certificatePem: string; caPem: string }>;

export interface CertificateKeeperOptions {
  /** The folder the material came from; renewed files replace it there. */
  tlsDir: string;
  material: TlsMaterial;
  renew: RenewFunction;
  log: Logger;
  /** Share of the life after which renewal starts; default two thirds. */
  renewAt?: number;
}

/**
 * Holds a component's current certificate and renews it by itself: at two
 * thirds of its life (at once if that is past), with a fresh key and a CSR
 * sent to the manager over mTLS with the current certificate, so the manager
 * signs the same name and role and nothing else. Retries with back-off until
 * it succeeds or the component stops; the files are replaced atomically and
 * 'renewed' lets servers and clients switch without a restart.
 */
export class CertificateKeeper extends EventEmitter<{ renewed: [TlsMaterial] }> {
  private current: TlsMaterial;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private running = false;
  private lastRenewal = 0;
  private inFlight: Promise<TlsMaterial> | undefined;

  constructor(private readonly options: CertificateKeeperOptions) {
    super();
    this.current = options.material;
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /**
   * TLS material whose fields read the current certificate each time, for
   * clients that copy their options when they connect (HTTP/2 session managers).
   */
  get live(): TlsMaterial {
    const keeper = this;
    return {
      get ca() {
        return keeper.current.ca;
      },
      get cert() {
        return keeper.current.cert;
      },
      get key() {
        return keeper.current.key;
      },
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Renews now (one renewal at a time); resolves with the new material. */
  renewNow(): Promise<TlsMaterial> {
    this.inFlight ??= this.renew().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private schedule(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    let delay = renewalDelay(
      certificateValidity(this.current.cert),
      Date.now(),
      this.options.renewAt ?? RENEW_AT,
    );
    if (this.failures > 0) delay = Math.max(delay, retryDelay(this.failures));
    delay = Math.max(delay, this.lastRenewal + MIN_RENEW_GAP_MS - Date.now());
    const step = Math.min(delay, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      if (step < delay) return this.schedule();
      this.renewNow().then(
        () => this.schedule(),
        () => this.schedule(),
      );
    }, step);
    this.timer.unref();
  }

  private async renew(): Promise<TlsMaterial> {
    const log = this.options.log;
    const before = this.current;
    try {
      const { csrPem, keyPem } = await createCsr(certificateName(before.cert));
      const answer = await this.options.renew(before, csrPem);
      checkIssued(before.ca, answer.certificatePem, keyPem, {
        subject: new X509Certificate(before.cert).subject,
      });
      const next: TlsMaterial = { ca: before.ca, cert: answer.certificatePem, key: keyPem };
      writeTlsDir(this.options.tlsDir, next);
      this.current = next;
      this.failures = 0;
      this.lastRenewal = Date.now();
      const validity = certificateValidity(next.cert);
      log.info(
        { name: certificateName(next.cert), notAfter: new Date(validity.notAfter).toISOString() },
        'certificate renewed',
      );
      this.emit('renewed', next);
      return next;
    } catch (err) {
      this.failures++;
      log.warn(
        { err: errorMessage(err), failures: this.failures, retryInMs: retryDelay(this.failures) },
        'certificate renewal failed',
      );
      throw err;
    }
  }
}
