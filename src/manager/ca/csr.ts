import 'reflect-metadata';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import '../../core/tls.js'; // sets @peculiar/x509's crypto provider
import { WarrenError } from '../../core/errors.js';

/** Largest CSR accepted (a P-256 request is about 400 bytes of PEM). */
export const MAX_CSR_CHARS = 8 * 1024;
/** Host names (SANs) a component certificate may carry besides localhost and loopback. */
export const MAX_HOSTS = 16;

/** Curves the CA signs for: what `warren enroll` and renewal generate, and one larger. */
const CURVES = new Set(['P-256', 'P-384']);
const DNS_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * The public key of a PKCS#10 request whose self-signature checks out (the
 * requester holds the private key). Everything else in the request — subject,
 * extensions, attributes — is ignored: the CA decides name, role and hosts.
 */
export async function csrPublicKey(csrPem: string): Promise<x509.PublicKey> {
  if (csrPem.length > MAX_CSR_CHARS) {
    throw badCsr(`the CSR is longer than ${MAX_CSR_CHARS} characters`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw badCsr('the CSR is not a PEM or DER PKCS#10 certificate request');
  }
  const algorithm = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || !CURVES.has(algorithm.namedCurve)) {
    throw badCsr(`the CSR's key must be ECDSA P-256 or P-384, not ${describe(algorithm)}`);
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {}
  if (!valid) throw badCsr('the CSR is not signed by its own key (no proof of possession)');
  return csr.publicKey;
}

/** Checks the host names a component asks for: DNS names or IP addresses, bounded. */
export function checkHosts(hosts: string[]): string[] {
  if (hosts.length > MAX_HOSTS) {
    throw new WarrenError('BAD_HOSTS', `at most ${MAX_HOSTS} hosts may be named`, 400);
  }
  for (const host of hosts) {
    if (!isIP(host) && !DNS_NAME.test(host)) {
      throw new WarrenError(
        'BAD_HOSTS',
        `'${host.slice(0, 64)}' is neither a DNS name nor an IP address`,
        400,
      );
    }
  }
  return [...new Set(hosts)];
}

function badCsr(message: string): WarrenError {
  return new WarrenError('BAD_CSR', message, 400);
}

function describe(algorithm: EcKeyAlgorithm): string {
  return algorithm.namedCurve ? `${algorithm.name} ${algorithm.namedCurve}` : algorithm.name;
}
