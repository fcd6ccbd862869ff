import 'reflect-metadata';
import { createPrivateKey, type KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  checkServerIdentity,
  type DetailedPeerCertificate,
  type PeerCertificate,
  type TLSSocket,
} from 'node:tls';
import * as x509 from '@peculiar/x509';
import { WarrenError } from './errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** Roles a certificate can carry (in the subject's OU). */
export const ROLES = ['scheduler', 'peer', 'seed', 'manager', 'client', 'store', 'cloud'] as const;
export type Role = (typeof ROLES)[number];

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
/** What a certificate name (CN) may be: it is also a host id and a file name. */
export const CERTIFICATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** What a component needs to speak mTLS: the CA to trust and its own certificate and key (PEM). */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** The file names inside a `--tls-dir`. */
export const TLS_FILES = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key', caKey: 'ca.key' } as const;

/** A new P-256 key pair (extractable, so the private key can be written as PEM). */
export async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A private key as PKCS#8 PEM. */
export async function pemKey(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  return bytes.toString('hex');
}

/** Creates a CA in `dir` (ca.crt, ca.key mode 0600). Refuses to overwrite an existing one. */
export async function initCa(dir: string, options: { name?: string; days?: number } = {}): Promise<void> {
  if (existsSync(join(dir, TLS_FILES.caKey))) {
    throw new WarrenError('CA_EXISTS', `a CA already exists in ${dir}; refusing to overwrite it`, 409);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${options.name ?? 'Warren CA'}, O=warren`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (options.days ?? 3650) * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeSecret(join(dir, TLS_FILES.caKey), await pemKey(keys.privateKey));
  writeFileSync(join(dir, TLS_FILES.ca), cert.toString('pem'), { mode: 0o644 });
}

export interface IssueOptions {
  role: Role;
  name: string;
  /** Extra DNS names and IP addresses for the certificate (localhost and loopback are always in). */
  hosts?: string[];
  days?: number;
  /** Life in milliseconds (overrides `days`); short lives are for renewal and expiry tests. */
  lifetimeMs?: number;
  /**
   * Put this machine's host name in the certificate (default true). False when
   * the CA signs for a component elsewhere (enrolment, renewal).
   */
  issuerHostname?: boolean;
}

/** Issues a certificate and a new key for a component, signed by the CA in `caDir`. */
export async function issueCertificate(caDir: string, options: IssueOptions): Promise<TlsMaterial> {
  const keys = await newKeys();
  const { ca, cert } = await signCertificate(caDir, options, keys.publicKey);
  return { ca, cert, key: await pemKey(keys.privateKey) };
}

/**
 * Signs a certificate for a public key held elsewhere (a CSR's): CN = name,
 * OU = role, the SPIFFE id and host names as SANs, serverAuth + clientAuth.
 */
export async function signCertificate(
  caDir: string,
  options: IssueOptions,
  publicKey: CryptoKey | x509.PublicKey,
): Promise<{ ca: string; cert: string }> {
  if (!CERTIFICATE_NAME.test(options.name)) {
    throw new WarrenError(
      'BAD_NAME',
      `certificate name '${options.name}' must be 1-63 of [A-Za-z0-9._-]`,
      400,
    );
  }
  const caPem = readFile(join(caDir, TLS_FILES.ca), 'CA certificate');
  const caCert = new x509.X509Certificate(caPem);
  const caKeyObject: KeyObject = createPrivateKey(readFile(join(caDir, TLS_FILES.caKey), 'CA key'));
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    caKeyObject.export({ format: 'der', type: 'pkcs8' }),
    ALG,
    false,
    ['sign'],
  );
  const hosts = new Set(['localhost', '127.0.0.1', '::1', ...(options.hosts ?? [])]);
  if (options.issuerHostname !== false) hosts.add(hostname());
  const altNames: x509.JsonGeneralName[] = [
    { type: 'url', value: `spiffe://warren/${options.role}/${options.name}` },
  ];
  for (const host of hosts) {
    altNames.push(/^[\d.]+$|:/.test(host) ? { type: 'ip', value: host } : { type: 'dns', value: host });
  }
  const now = Date.now();
  const lifetime = options.lifetimeMs ?? (options.days ?? 30) * DAY;
  // Backdated against clock skew, but by a tenth of the life at most, so a
  // short-lived certificate's two-thirds point is still ahead of its issue.
  const backdate = lifetime > 0 ? Math.min(60_000, lifetime / 10) : 60_000;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.name}, OU=${options.role}, O=warren`,
    issuer: caCert.subject,
    notBefore: new Date(now - backdate),
    notAfter: new Date(now + lifetime),
    publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(altNames),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { ca: caPem, cert: cert.toString('pem') };
}

/**
 * Writes ca.crt, tls.crt and tls.key (0600) into `dir`, each through a
 * temporary file and a rename, so a reader never sees half a file (renewal
 * rewrites them while the component runs).
 */
export function writeTlsDir(dir: string, material: TlsMaterial): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  replaceFile(join(dir, TLS_FILES.ca), material.ca, 0o644);
  replaceFile(join(dir, TLS_FILES.key), material.key, 0o600);
  replaceFile(join(dir, TLS_FILES.cert), material.cert, 0o644);
}

function replaceFile(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode });
  chmodSync(temp, mode);
  renameSync(temp, path);
}

export function loadTlsDir(dir: string): TlsMaterial {
  return {
    ca: readFile(join(dir, TLS_FILES.ca), 'CA certificate'),
    cert: readFile(join(dir, TLS_FILES.cert), 'certificate'),
    key: readFile(join(dir, TLS_FILES.key), 'private key'),
  };
}

/** Who is on the other end of an mTLS connection, read from its verified certificate. */
export interface PeerIdentity {
  name: string;
  role: string;
}

export function identityOf(socket: TLSSocket): PeerIdentity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert?.subject) return undefined;
  const cn = cert.subject.CN;
  const ou = cert.subject.OU;
  return {
    name: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''),
    role: Array.isArray(ou) ? (ou[0] ?? '') : (ou ?? ''),
  };
}

/** Name (CN) in a PEM certificate. */
export function certificateName(pem: string): string {
  const cn = /CN=([^,\n]+)/.exec(new X509Certificate(pem).subject.replaceAll('\n', ','));
  return cn?.[1] ?? '';
}

/**
 * Server identity check for peer-to-peer connections: parents are reached by
 * address, and what matters is that the certificate (already verified against
 * the CA) names the peer the scheduler told us about.
 */
export function expectName(name: string) {
  return (_host: string, cert: { subject?: { CN?: string | string[] } }): Error | undefined => {
    const cn = cert.subject?.CN;
    const actual = Array.isArray(cn) ? cn[0] : cn;
    return actual === name ? undefined : new Error(`certificate names '${actual}', expected '${name}'`);
  };
}

/**
 * Server identity check for clients that dial a role by address (scheduler,
 * manager): the host name as usual, and the certificate's role (OU) must be
 * `role`. Every component certificate names localhost and loopback, so the
 * host check alone would let any of them stand in for a scheduler or the
 * manager on the same machine.
 *
 * With `caPem`, the role is required only of certificates issued by that CA:
 * one from another CA (the operator's own REST certificate for the manager) is
 * checked by host name alone.
 */
export function expectRole(role: Role, caPem?: string) {
  const caFingerprint = caPem ? new X509Certificate(caPem).fingerprint256 : undefined;
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const wrongHost = checkServerIdentity(host, cert);
    if (wrongHost) return wrongHost;
    if (caFingerprint !== undefined) {
      const issuer = (cert as DetailedPeerCertificate).issuerCertificate;
      if (issuer?.fingerprint256 !== caFingerprint) return undefined;
    }
    const actual = [cert.subject?.OU].flat()[0];
    return actual === role
      ? undefined
      : new Error(`the server at ${host} presents a '${actual ?? 'none'}' certificate, not a ${role}'s`);
  };
}

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new WarrenError(
      'TLS_MISSING',
      `${what} not found at ${path} (run 'warren ca init' / 'warren ca issue')`,
      400,
    );
  }
}
