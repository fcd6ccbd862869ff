import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import * as acme from 'acme-client';
import { errorMessage, isWarrenError, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ActiveCertificate, CertificateStore } from './certificate-store.js';
import { runDnsHook, type TxtRecord } from './dns-hook.js';
import { writeFileAtomically, writeSecretFile } from './files.js';
import { normalizeDomain } from './validate-upload.js';

/*
 * A wildcard certificate from an ACME CA by DNS-01 (acme-client): `begin`
 * makes (or reuses) the account and orders `<domain>` + `*.<domain>`, and
 * returns the TXT records to create — both names share `_acme-challenge.<domain>`,
 * one record name with two values. `complete` has the CA check them, then
 * finalises with a fresh P-256 key and CSR and installs the chain. With a DNS
 * hook (dns-hook.ts) both steps run unattended, which is how renewal works.
 *
 * Files in <dir>: acme-account.pem (0600, the account key), acme-account.json
 * (directory, email, account URL), acme-order.json (the pending order, so a
 * restart between the two steps loses nothing).
 */

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

export interface AcmeOptions {
  /** `<data>/certs` (the store's folder). */
  dir: string;
  domain: string;
  store: CertificateStore;
  log: Logger;
  /** Default directory; default Let's Encrypt's. */
  directoryUrl?: string;
  /** PEM CA certificates to trust for the ACME server (instead of the system's), e.g. a private CA or Pebble's. */
  caBundlePem?: string;
  /** Absolute path of the DNS hook executable; without one the operator creates the records. */
  dnsHook?: string;
  /** Longest run of one hook call; default 60 s. */
  hookTimeoutMs?: number;
  /** Wait after the hook created the records, for DNS to propagate; default 30 s. */
  propagationDelayMs?: number;
  /** Polling of the CA while it validates and issues: attempts (10), first and longest wait (1 s, 10 s). */
  poll?: { attempts?: number; minMs?: number; maxMs?: number };
}

export interface PendingOrder {
  orderId: string;
  orderUrl: string;
  directoryUrl: string;
  email: string;
  txtRecords: TxtRecord[];
  createdAt: string;
}

export interface AcmeStatus {
  state: 'idle' | 'pending' | 'validating';
  pending: PendingOrder | null;
  lastError: string | null;
  dnsHook: boolean;
}

const ORDER_FILE = 'acme-order.json';
const ACCOUNT_FILE = 'acme-account.json';
const ACCOUNT_KEY = 'acme-account.pem';
const EMAIL = /^[^\s@<>"',;:]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,63}$/;
const HTTP_TIMEOUT_MS = 30_000;
const MAX_RESPONSE = 1024 * 1024;

/*
 * acme-client talks through one axios instance for the whole process; an
 * interceptor gives requests to a directory with its own CA bundle an agent
 * that trusts only that bundle, and bounds every request in time and size.
 */
const trustByOrigin = new Map<string, Agent>();
acme.axios.interceptors.request.use((config) => {
  config.timeout ||= HTTP_TIMEOUT_MS;
  config.maxContentLength = MAX_RESPONSE;
  config.maxRedirects = 0;
  const agent = config.url ? trustByOrigin.get(originOf(config.url)) : undefined;
  if (agent) config.httpsAgent = agent;
  return config;
});

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

function trust(directoryUrl: string, caBundlePem: string): void {
  const origin = originOf(directoryUrl);
  if (trustByOrigin.has(origin)) return;
  if (trustByOrigin.size >= 16) trustByOrigin.delete(trustByOrigin.keys().next().value!);
  trustByOrigin.set(origin, new Agent({ ca: caBundlePem, keepAlive: false }));
}

function acmeError(what: string, err: unknown): WarrenError {
  if (isWarrenError(err)) return err;
  return new WarrenError('ACME_FAILED', `${what}: ${errorMessage(err)}`, 502, { cause: err });
}

export class AcmeManager {
  private readonly domain: string;
  private busy = false;
  private validating = false;
  private lastError: string | null = null;
  private pending: PendingOrder | null;

  constructor(private readonly options: AcmeOptions) {
    this.domain = normalizeDomain(options.domain);
    this.pending = this.readJson<PendingOrder>(ORDER_FILE) ?? null;
    if (options.dnsHook) options.store.setRenewer(() => this.renew());
  }

  status(): AcmeStatus {
    return {
      state: this.validating ? 'validating' : this.pending ? 'pending' : 'idle',
      pending: this.pending,
      lastError: this.lastError,
      dnsHook: this.options.dnsHook !== undefined,
    };
  }

  /**
   * Orders a certificate and returns the TXT records to create. With a DNS
   * hook, `completion` is the unattended rest (the hook creates the records,
   * the CA checks them, the certificate is installed); the pending order and
   * any error show in {@link status} meanwhile.
   */
  async begin(request: { email: string; directoryUrl?: string }): Promise<{
    order: PendingOrder;
    completion?: Promise<ActiveCertificate>;
  }> {
    if (!this.options.dnsHook)
      return { order: await this.exclusive(() => this.order(request.email, request.directoryUrl)) };
    // One exclusive run for the order and the rest, so nothing slips in between.
    let announce!: (order: PendingOrder) => void;
    const ordered = new Promise<PendingOrder>((resolve) => {
      announce = resolve;
    });
    const completion = this.exclusive(async () => {
      const order = await this.order(request.email, request.directoryUrl);
      announce(order);
      return this.completeWithHook(order);
    });
    const failed = completion.then(() => undefined as never);
    failed.catch(() => undefined); // the outcome is in status() and the log
    return { order: await Promise.race([ordered, failed]), completion };
  }

  /** The ACME directory orders go to (the configured one, or Let's Encrypt's). */
  get directoryUrl(): string {
    return this.options.directoryUrl ?? LETS_ENCRYPT_DIRECTORY;
  }

  /** Has the CA check the TXT records of the pending order, then installs the certificate. */
  complete(): Promise<ActiveCertificate> {
    return this.exclusive(() => this.finish());
  }

  /** Renewal without anyone at the console (needs the DNS hook and an earlier order's account). */
  async renew(): Promise<void> {
    const account = this.readJson<{ email: string; directory_url: string }>(ACCOUNT_FILE);
    if (!account)
      throw new WarrenError('ACME_NO_ACCOUNT', 'no ACME account yet: request a certificate first', 409);
    await this.exclusive(async () => {
      const order = await this.order(account.email, account.directory_url);
      await this.completeWithHook(order);
    });
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy)
      throw new WarrenError('ACME_BUSY', 'an ACME request is already running; try again when it ends', 409);
    this.busy = true;
    try {
      const result = await work();
      this.lastError = null;
      return result;
    } catch (err) {
      this.lastError = errorMessage(err);
      this.options.log.warn({ err: this.lastError }, 'ACME request failed');
      throw err;
    } finally {
      this.busy = false;
      this.validating = false;
    }
  }

  private async completeWithHook(order: PendingOrder): Promise<ActiveCertificate> {
    const hook = this.options.dnsHook!;
    const timeout = this.options.hookTimeoutMs ?? 60_000;
    this.validating = true;
    try {
      for (const record of order.txtRecords) await runDnsHook(hook, 'present', record, this.domain, timeout);
      const delay = this.options.propagationDelayMs ?? 30_000;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      return await this.finish();
    } finally {
      for (const record of order.txtRecords) {
        await runDnsHook(hook, 'cleanup', record, this.domain, timeout).catch((err: unknown) =>
          this.options.log.warn({ err: errorMessage(err), name: record.name }, 'DNS hook cleanup failed'),
        );
      }
    }
  }

  private async client(directoryUrl: string, email?: string): Promise<acme.Client> {
    if (!/^https:\/\/[^\s]+$/.test(directoryUrl)) {
      throw new WarrenError(
        'ACME_DIRECTORY',
        `the ACME directory must be an https:// URL, not '${directoryUrl}'`,
        400,
      );
    }
    if (this.options.caBundlePem) trust(directoryUrl, this.options.caBundlePem);
    const keyPath = join(this.options.dir, ACCOUNT_KEY);
    if (!existsSync(keyPath))
      writeSecretFile(keyPath, (await acme.crypto.createPrivateEcdsaKey('P-256')).toString());
    const poll = this.options.poll ?? {};
    const client = new acme.Client({
      directoryUrl,
      accountKey: readFileSync(keyPath),
      backoffAttempts: poll.attempts ?? 10,
      backoffMin: poll.minMs ?? 1_000,
      backoffMax: poll.maxMs ?? 10_000,
    });
    const saved = this.readJson<{ email: string; directory_url: string }>(ACCOUNT_FILE);
    const contactEmail = email ?? saved?.email;
    if (!contactEmail)
      throw new WarrenError('ACME_NO_ACCOUNT', 'no ACME account yet: request a certificate first', 409);
    try {
      // newAccount with a known key returns that account: this creates it once, then reuses it.
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${contactEmail}`] });
      if (saved && saved.email !== contactEmail && saved.directory_url === directoryUrl) {
        await client.updateAccount({ contact: [`mailto:${contactEmail}`] });
      }
    } catch (err) {
      throw acmeError(`the ACME server at ${directoryUrl} refused the account`, err);
    }
    writeFileAtomically(
      join(this.options.dir, ACCOUNT_FILE),
      `${JSON.stringify({ email: contactEmail, directory_url: directoryUrl, account_url: client.getAccountUrl() }, null, 2)}\n`,
    );
    return client;
  }

  private async order(email: string, directoryUrl?: string): Promise<PendingOrder> {
    if (!EMAIL.test(email)) throw new WarrenError('ACME_EMAIL', `'${email}' is not an e-mail address`, 400);
    const directory = directoryUrl ?? this.options.directoryUrl ?? LETS_ENCRYPT_DIRECTORY;
    const client = await this.client(directory, email);
    try {
      const order = await client.createOrder({
        identifiers: [
          { type: 'dns', value: this.domain },
          { type: 'dns', value: `*.${this.domain}` },
        ],
      });
      const txtRecords: TxtRecord[] = [];
      for (const authz of await client.getAuthorizations(order)) {
        if (authz.status === 'valid') continue; // the CA reused an earlier validation
        const challenge = authz.challenges.find((c) => c.type === 'dns-01');
        if (!challenge) throw new Error(`the CA offers no dns-01 challenge for ${authz.identifier.value}`);
        const value = await client.getChallengeKeyAuthorization(challenge);
        txtRecords.push({ name: `_acme-challenge.${authz.identifier.value}`, value });
      }
      const pending: PendingOrder = {
        orderId: randomBytes(8).toString('hex'),
        orderUrl: order.url,
        directoryUrl: directory,
        email,
        txtRecords,
        createdAt: new Date().toISOString(),
      };
      writeFileAtomically(join(this.options.dir, ORDER_FILE), `${JSON.stringify(pending, null, 2)}\n`);
      this.pending = pending;
      this.options.log.info({ orderId: pending.orderId, records: txtRecords }, 'ACME order created');
      return pending;
    } catch (err) {
      throw acmeError('the ACME order failed', err);
    }
  }

  private async finish(): Promise<ActiveCertificate> {
    const pending = this.pending;
    if (!pending) {
      throw new WarrenError(
        'ACME_NO_ORDER',
        'there is no pending ACME order: request a certificate first',
        409,
      );
    }
    this.validating = true;
    const client = await this.client(pending.directoryUrl);
    let order: acme.Order;
    try {
      order = await client.getOrder({ url: pending.orderUrl } as acme.Order);
      if (order.status === 'pending') {
        const authzs = (await client.getAuthorizations(order)).filter((a) => a.status === 'pending');
        const challenges = authzs.map((authz) => {
          const challenge = authz.challenges.find((c) => c.type === 'dns-01');
          if (!challenge) throw new Error(`the CA offers no dns-01 challenge for ${authz.identifier.value}`);
          return challenge;
        });
        // Both records must be in place before the CA looks at either: ask for all, then wait.
        for (const challenge of challenges) await client.completeChallenge(challenge);
        for (const challenge of challenges) await client.waitForValidStatus(challenge);
        order = await client.getOrder(order);
      }
    } catch (err) {
      this.dropOrder();
      throw new WarrenError(
        'ACME_VALIDATION_FAILED',
        `the CA could not validate the TXT records (${errorMessage(err)}); check the records and request a new certificate`,
        422,
        { cause: err },
      );
    }
    let chainPem: string;
    let keyPem: string;
    try {
      if (order.status === 'ready') {
        const key = await acme.crypto.createPrivateEcdsaKey('P-256');
        const [, csr] = await acme.crypto.createCsr(
          { commonName: this.domain, altNames: [this.domain, `*.${this.domain}`] },
          key,
        );
        order = await client.finalizeOrder(order, csr);
        keyPem = key.toString();
      } else {
        throw new Error(`the order is '${order.status}', not ready to finalize`);
      }
      chainPem = await client.getCertificate(order);
    } catch (err) {
      this.dropOrder();
      throw acmeError('the ACME server did not issue the certificate', err);
    }
    const cert = await this.options.store.install('acme', { certificatePem: chainPem, keyPem });
    this.dropOrder();
    return cert;
  }

  private dropOrder(): void {
    this.pending = null;
    rmSync(join(this.options.dir, ORDER_FILE), { force: true });
  }

  private readJson<T>(name: string): T | undefined {
    const path = join(this.options.dir, name);
    if (!existsSync(path)) return undefined;
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as T;
    } catch {
      this.options.log.warn({ path }, 'ignoring an unreadable ACME file');
      return undefined;
    }
  }
}
