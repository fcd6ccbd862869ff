import { days, makeCertificate, newKeyPair, privateKeyPem } from './x509.js';

/*
 * The certificate Warren makes on first start, so the console is HTTPS from
 * the beginning. The threat model is plain about it: a self-signed
 * certificate lets anyone between a browser and the server impersonate it,
 * so the console shows SELF_SIGNED_WARNING for as long as it is in use.
 */

/** Life of the self-signed certificate. */
export const SELF_SIGNED_DAYS = 365;

/** What the console shows while the self-signed certificate is served. */
export const SELF_SIGNED_WARNING =
  'This server uses the self-signed certificate Warren made on first start. Browsers warn about it, and ' +
  'anyone on the network path can impersonate this server (man-in-the-middle) to visitors who click ' +
  'through the warning. Upload a certificate from a trusted CA, or get one with ACME (DNS-01).';

/**
 * A new self-signed wildcard certificate for `domain`: ECDSA P-256, SAN
 * `<domain>` and `*.<domain>`, valid one year (backdated a minute for clock skew).
 */
export async function createSelfSigned(
  domain: string,
  now = Date.now(),
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await newKeyPair({ kind: 'ec', curve: 'P-256' });
  const certPem = await makeCertificate({
    subject: `CN=${domain}, O=Warren (self-signed)`,
    names: [domain, `*.${domain}`],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days(SELF_SIGNED_DAYS)),
    keys,
  });
  return { certPem, keyPem: await privateKeyPem(keys.privateKey) };
}
