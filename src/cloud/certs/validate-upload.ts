import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { WarrenError } from '../../core/errors.js';
import { dnsNames } from './x509.js';

/*
 * Checks an uploaded certificate chain and key before anything is written
 * (pure: no I/O; the caller passes the clock and the trusted roots).
 *
 * What a chain must be: the server's certificate (the leaf) first, then each
 * intermediate in order, each certificate signed by the next one. The root
 * may be left out when it is one browsers trust (the `trustedRoots`, node's
 * Mozilla list in production): the last certificate must then be signed by
 * one of them. Otherwise the chain must end at a self-signed root (a private
 * CA's root, or a self-signed leaf on its own). A leaf whose issuer is neither
 * in the chain nor a trusted root is refused as an incomplete chain: browsers
 * would fail on it for lack of the intermediate.
 */

/** Largest PEM text accepted for the chain and for the key, each. */
export const PEM_MAX_BYTES = 64 * 1024;
/** Most certificates in one chain. */
export const CHAIN_MAX_CERTIFICATES = 8;
/** Below this many days left, the certificate is warned about. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EKU = '2.5.29.37.0';
const GOOD_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/** What the console shows about a certificate. */
export interface CertificateSummary {
  names: string[];
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  /** SHA-256 of the leaf's DER as browsers show it (`AB:CD:…`). */
  fingerprintSha256: string;
  selfSigned: boolean;
  /** 'expires in N days' under 30 days left, 'expired …' after; otherwise null. */
  warning: string | null;
}

/** An accepted upload: the chain and key as they will be written, and its summary. */
export interface ValidatedCertificate {
  chainPem: string;
  keyPem: string;
  summary: CertificateSummary;
}

export interface ValidateOptions {
  /** The cloud's domain: the certificate must cover it and `*.<domain>`. */
  domain: string;
  /** The clock (ms since the epoch). */
  now: number;
  /** Roots an incomplete chain may end at (PEM); `tls.rootCertificates` in production. */
  trustedRoots: readonly string[];
  /**
   * Accept a chain that ends at an unknown CA, each link still verified: for
   * a chain an ACME server sent (a private ACME CA's root is not a browser root).
   */
  acceptUnknownRoot?: boolean;
}

function refuse(code: string, message: string): never {
  throw new WarrenError(code, message, 400);
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

interface PemBlock {
  label: string;
  text: string;
}

function pemBlocks(text: string, what: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    if (match[1] !== match[3])
      refuse(
        'CERT_INVALID_PEM',
        `the ${what} has a PEM block that begins '${match[1]}' but ends '${match[3]}'`,
      );
    blocks.push({ label: match[1]!, text: match[0] });
  }
  return blocks;
}

function checkSize(text: string, what: string): void {
  if (Buffer.byteLength(text, 'utf8') > PEM_MAX_BYTES) {
    throw new WarrenError('CERT_TOO_LARGE', `the ${what} is larger than ${PEM_MAX_BYTES / 1024} KiB`, 413);
  }
}

/** The certificates of a PEM chain, in order; refuses anything that is not one. */
export function parseChain(chainPem: string): X509Certificate[] {
  checkSize(chainPem, 'certificate chain');
  const blocks = pemBlocks(chainPem, 'certificate chain');
  if (blocks.some((b) => b.label.includes('PRIVATE KEY'))) {
    refuse(
      'CERT_INVALID_PEM',
      'the certificate field holds a private key: put the key in the key field, and the certificates here',
    );
  }
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) {
    refuse(
      'CERT_INVALID_PEM',
      "no certificate found: paste PEM text ('-----BEGIN CERTIFICATE-----' …), the server's certificate first",
    );
  }
  if (certs.length !== blocks.length) {
    const other = blocks.find((b) => b.label !== 'CERTIFICATE')!;
    refuse(
      'CERT_INVALID_PEM',
      `the certificate chain holds a '${other.label}' block; only CERTIFICATE blocks belong there`,
    );
  }
  if (certs.length > CHAIN_MAX_CERTIFICATES) {
    refuse(
      'CERT_INVALID_PEM',
      `the chain has ${certs.length} certificates; at most ${CHAIN_MAX_CERTIFICATES} are accepted`,
    );
  }
  return certs.map((block, i) => {
    try {
      return new X509Certificate(block.text);
    } catch {
      return refuse('CERT_INVALID_PEM', `certificate ${i + 1} of the chain is not a valid X.509 certificate`);
    }
  });
}

/** The private key of a PEM text holding exactly one; refuses encrypted keys. */
export function parseKey(keyPem: string): KeyObject {
  checkSize(keyPem, 'private key');
  const blocks = pemBlocks(keyPem, 'private key');
  if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(b.text))) {
    refuse(
      'CERT_KEY_ENCRYPTED',
      "the private key is encrypted with a passphrase: decrypt it first (e.g. 'openssl pkey -in key.pem -out plain.pem') and upload the plain key",
    );
  }
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  if (keys.length !== 1 || blocks.length !== keys.length) {
    refuse(
      'CERT_INVALID_PEM',
      keys.length === 0
        ? "no private key found: paste the PEM key ('-----BEGIN PRIVATE KEY-----' …)"
        : 'the key field must hold exactly one private key and nothing else',
    );
  }
  try {
    return createPrivateKey({ key: keys[0]!.text, format: 'pem' });
  } catch {
    return refuse('CERT_INVALID_PEM', 'the private key is not a valid PEM private key');
  }
}

function checkKeyStrength(key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) refuse('CERT_KEY_WEAK', `the RSA key has ${bits} bits; at least 2048 are required`);
    return;
  }
  if (type === 'ec') {
    if (!GOOD_CURVES.has(details.namedCurve ?? '')) {
      refuse('CERT_KEY_WEAK', `the EC key uses curve '${details.namedCurve}'; use P-256, P-384 or P-521`);
    }
    return;
  }
  refuse(
    'CERT_KEY_WEAK',
    `a ${type} key is not usable for a TLS server certificate in browsers; use ECDSA P-256 or RSA ≥ 2048`,
  );
}

function label(cert: X509Certificate): string {
  return `'${cert.subject.replaceAll('\n', ', ')}'`;
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.verify(cert.publicKey);
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

const parsedRoots = new WeakMap<readonly string[], X509Certificate[]>();

function rootsOf(pems: readonly string[]): X509Certificate[] {
  let roots = parsedRoots.get(pems);
  if (!roots) {
    roots = pems.flatMap((pem) => {
      try {
        return [new X509Certificate(pem)];
      } catch {
        return [];
      }
    });
    parsedRoots.set(pems, roots);
  }
  return roots;
}

function checkChain(certs: X509Certificate[], options: ValidateOptions): void {
  for (let i = 0; i + 1 < certs.length; i++) {
    const cert = certs[i]!;
    const issuer = certs[i + 1]!;
    if (!signedBy(cert, issuer)) {
      refuse(
        'CERT_CHAIN_INCOMPLETE',
        `certificate ${i + 1} (${label(cert)}) is not signed by certificate ${i + 2} (${label(issuer)}): list the server's certificate first, then each issuing CA in order`,
      );
    }
  }
  const last = certs[certs.length - 1]!;
  if (isSelfSigned(last) || options.acceptUnknownRoot) return;
  if (rootsOf(options.trustedRoots).some((root) => signedBy(last, root))) return;
  refuse(
    'CERT_CHAIN_INCOMPLETE',
    `the chain ends at ${label(last)}, issued by '${last.issuer.replaceAll('\n', ', ')}', which is neither in the chain nor a root browsers trust: add the intermediate certificate(s) after the server's certificate (and the root, for a private CA)`,
  );
}

/** `domain` lower-case, without a trailing dot. */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

function checkNames(leaf: X509Certificate, domain: string): string[] {
  const names = dnsNames(leaf.toString());
  const wanted = [domain, `*.${domain}`];
  const missing = wanted.filter((name) => !names.includes(name));
  if (missing.length > 0) {
    refuse(
      'CERT_NAMES',
      `the certificate names ${names.length ? names.join(', ') : 'no DNS names'}; it must cover both '${domain}' and '*.${domain}' (missing ${missing.join(' and ')})`,
    );
  }
  const usages = leaf.keyUsage;
  if (usages && !usages.includes(SERVER_AUTH) && !usages.includes(ANY_EKU)) {
    refuse('CERT_USAGE', 'the certificate is not for TLS servers (its extended key usage lacks serverAuth)');
  }
  return names;
}

function checkDates(certs: X509Certificate[], now: number): void {
  certs.forEach((cert, i) => {
    const which = i === 0 ? "the server's certificate" : `certificate ${i + 1} of the chain (${label(cert)})`;
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (now < from)
      refuse('CERT_NOT_YET_VALID', `${which} is not valid before ${new Date(from).toISOString()}`);
    if (now > to) refuse('CERT_EXPIRED', `${which} expired on ${new Date(to).toISOString()}`);
  });
}

/** What the console shows about the leaf of `chainPem`, at `now`. */
export function summarize(chainPem: string, now: number): CertificateSummary {
  const leaf = parseChain(chainPem)[0]!;
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = Date.parse(leaf.validTo);
  const daysLeft = Math.floor((notAfter - now) / DAY);
  return {
    names: dnsNames(leaf.toString()),
    notBefore: new Date(notBefore).toISOString(),
    notAfter: new Date(notAfter).toISOString(),
    daysLeft,
    fingerprintSha256: leaf.fingerprint256,
    selfSigned: isSelfSigned(leaf),
    warning: expiryWarning(notAfter, now),
  };
}

/** 'expires in N days' (under 30 days), 'expired on …', or null. */
export function expiryWarning(notAfter: number, now: number): string | null {
  if (notAfter <= now) return `the certificate expired on ${new Date(notAfter).toISOString()}`;
  const daysLeft = Math.floor((notAfter - now) / DAY);
  if (daysLeft >= EXPIRY_WARNING_DAYS) return null;
  return daysLeft === 1 ? 'expires in 1 day' : `expires in ${daysLeft} days`;
}

/** The PEM text of a key, as written to disk (PKCS#8). */
function keyText(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/**
 * Checks an uploaded chain and key and returns what to install; throws a
 * WarrenError (400; 413 for oversize input) naming the problem otherwise.
 * Order: PEM syntax, key (encrypted, weak), key match, chain links, names, dates.
 */
export function validateCertificate(
  input: { certificatePem: string; keyPem: string },
  options: ValidateOptions,
): ValidatedCertificate {
  const certs = parseChain(input.certificatePem);
  const key = parseKey(input.keyPem);
  checkKeyStrength(key);
  const leaf = certs[0]!;
  if (!leaf.checkPrivateKey(key)) {
    refuse(
      'CERT_KEY_MISMATCH',
      "the private key does not belong to the server's certificate (the first one in the chain)",
    );
  }
  checkChain(certs, options);
  checkNames(leaf, normalizeDomain(options.domain));
  checkDates(certs, options.now);
  const chainPem = certs.map((cert) => cert.toString().trim()).join('\n') + '\n';
  return { chainPem, keyPem: keyText(key), summary: summarize(chainPem, options.now) };
}
