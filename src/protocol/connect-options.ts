import type { SecureClientSessionOptions } from 'node:http2';
import { expectRole, type Role, type TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';

/**
 * TLS options for an HTTP/2 client of a component: our certificate, the CA,
 * and a server check that wants `role` in the server's certificate. The
 * certificate fields are getters on `tls`, read at each (re)connect, so a
 * renewed certificate (CertificateKeeper.live) is used from then on. With
 * `trust`, a server presenting a revoked certificate is refused too.
 */
export function connectOptions(tls: TlsMaterial, role: Role, trust?: TrustState): SecureClientSessionOptions {
  const expected = expectRole(role);
  const check: typeof expected = (host, cert) =>
    expected(host, cert) ??
    (trust?.isRevokedSerial(cert.serialNumber)
      ? new Error(`the ${role} at ${host} presents a revoked certificate (serial ${cert.serialNumber})`)
      : undefined);
  return {
    get ca() {
      return tls.ca;
    },
    get cert() {
      return tls.cert;
    },
    get key() {
      return tls.key;
    },
    checkServerIdentity: check,
  };
}
