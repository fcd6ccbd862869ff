import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { pemKey } from '../../core/tls.js';

/*
 * Making X.509 certificates with @peculiar/x509 (the manager CA's library;
 * importing core/tls.ts installs node's WebCrypto as its provider): the
 * self-signed wildcard certificate, and the chains the tests upload.
 */

const DAY = 86_400_000;

export type KeyAlgorithm = { kind: 'ec'; curve?: 'P-256' | 'P-384' } | { kind: 'rsa'; bits: number };

/** A new extractable key pair for signing (ECDSA P-256 unless told otherwise). */
export async function newKeyPair(alg: KeyAlgorithm = { kind: 'ec' }): Promise<CryptoKeyPair> {
  const params =
    alg.kind === 'ec'
      ? { name: 'ECDSA', namedCurve: alg.curve ?? 'P-256' }
      : {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: alg.bits,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        };
  return (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A private key as PKCS#8 PEM. */
export const privateKeyPem = pemKey;

export interface CertificateSpec {
  /** Distinguished name, e.g. `CN=example.com, O=Example`. */
  subject: string;
  /** DNS subjectAltNames (none for a CA). */
  names?: string[];
  notBefore: Date;
  notAfter: Date;
  /** A CA certificate (basicConstraints CA:true, keyCertSign) instead of a server certificate. */
  ca?: boolean;
  /** The subject's key pair (its public key goes in the certificate). */
  keys: CryptoKeyPair;
  /** The issuer's certificate (PEM) and keys; without it the certificate is self-signed. */
  issuer?: { certPem: string; keys: CryptoKeyPair };
}

/** Signs a certificate as `spec` says and returns it as PEM. */
export async function makeCertificate(spec: CertificateSpec): Promise<string> {
  const signingKeys = spec.issuer?.keys ?? spec.keys;
  const signingAlgorithm =
    signingKeys.privateKey.algorithm.name === 'ECDSA'
      ? { name: 'ECDSA', hash: 'SHA-256' }
      : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(spec.ca === true, undefined, true),
    new x509.KeyUsagesExtension(
      spec.ca
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(spec.keys.publicKey),
  ];
  if (!spec.ca) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]));
  if (spec.names && spec.names.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(spec.names.map((value) => ({ type: 'dns' as const, value }))),
    );
  }
  if (spec.issuer) {
    extensions.push(
      await x509.AuthorityKeyIdentifierExtension.create(new x509.X509Certificate(spec.issuer.certPem)),
    );
  }
  const serialNumber = randomBytes(16);
  serialNumber[0] = serialNumber[0]! & 0x7f; // positive
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber.toString('hex'),
    subject: spec.subject,
    issuer: spec.issuer ? new x509.X509Certificate(spec.issuer.certPem).subject : spec.subject,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    publicKey: spec.keys.publicKey,
    signingKey: signingKeys.privateKey,
    signingAlgorithm,
    extensions,
  });
  return cert.toString('pem');
}

/** The DNS names in a certificate's subjectAltName, lower-case, in order. */
export function dnsNames(certPem: string): string[] {
  const san = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return [];
  return san.names.items.filter((name) => name.type === 'dns').map((name) => name.value.toLowerCase());
}

/** `days` whole days in milliseconds. */
export function days(n: number): number {
  return n * DAY;
}
