import type { KeyAlgorithm } from '../../src/cloud/certs/x509.js';
import { days, makeCertificate, newKeyPair, privateKeyPem } from '../../src/cloud/certs/x509.js';

/*
 * Certificate chains for the certificate tests: a private root CA, an
 * intermediate, and server certificates with chosen names, dates and keys,
 * made with the same code as the self-signed certificate (certs/x509.ts).
 */

export interface Issued {
  certPem: string;
  keyPem: string;
  keys: CryptoKeyPair;
}

export interface TestPki {
  root: Issued;
  intermediate: Issued;
  /** A server certificate signed by the intermediate. */
  leaf(options?: LeafOptions): Promise<Issued>;
}

export interface LeafOptions {
  names?: string[];
  /** Offsets from now, in days (default -1 and +90). */
  fromDays?: number;
  toDays?: number;
  key?: KeyAlgorithm;
  /** Sign with this instead of the intermediate. */
  issuer?: Issued;
}

async function issue(
  subject: string,
  options: {
    ca?: boolean;
    names?: string[];
    fromDays: number;
    toDays: number;
    key?: KeyAlgorithm;
    issuer?: Issued;
  },
): Promise<Issued> {
  const keys = await newKeyPair(options.key);
  const now = Date.now();
  const certPem = await makeCertificate({
    subject,
    ...(options.names ? { names: options.names } : {}),
    notBefore: new Date(now + days(options.fromDays)),
    notAfter: new Date(now + days(options.toDays)),
    ...(options.ca ? { ca: true } : {}),
    keys,
    ...(options.issuer ? { issuer: { certPem: options.issuer.certPem, keys: options.issuer.keys } } : {}),
  });
  return { certPem, keyPem: await privateKeyPem(keys.privateKey), keys };
}

/** A root CA, an intermediate under it, and a way to issue server certificates for `domain`. */
export async function makeTestPki(
  domain: string,
  options: { intermediateToDays?: number } = {},
): Promise<TestPki> {
  const root = await issue('CN=Test Root, O=Warren tests', { ca: true, fromDays: -10, toDays: 3650 });
  const intermediate = await issue('CN=Test Intermediate, O=Warren tests', {
    ca: true,
    fromDays: -10,
    toDays: options.intermediateToDays ?? 1000,
    issuer: root,
  });
  return {
    root,
    intermediate,
    leaf: (leaf = {}) =>
      issue(`CN=${domain}`, {
        names: leaf.names ?? [domain, `*.${domain}`],
        fromDays: leaf.fromDays ?? -1,
        toDays: leaf.toDays ?? 90,
        ...(leaf.key ? { key: leaf.key } : {}),
        issuer: leaf.issuer ?? intermediate,
      }),
  };
}

/** PEM texts joined into one chain. */
export function chain(...certs: Issued[]): string {
  return certs.map((c) => c.certPem.trim()).join('\n') + '\n';
}

/** A self-signed server certificate (its own issuer). */
export async function selfSignedLeaf(domain: string): Promise<Issued> {
  return issue(`CN=${domain}`, { names: [domain, `*.${domain}`], fromDays: -1, toDays: 60 });
}
