import type { SecureClientSessionOptions } from 'node:http2';
import { expectRole, type Role, type TlsMaterial } from '../core/tls.js';

/**
 * TLS options for an HTTP/2 client of a component: our certificate, the CA,
 * and a server check that wants `role` in the server's certificate. The
 * certificate fields are getters on `tls`, read at each (re)connect, so a
 * renewed certificate (CertificateKeeper.live) is used from then on.
 */
export function connectOptions(tls: TlsMaterial, role: Role): SecureClientSessionOptions {
  const check = expectRole(role);
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
