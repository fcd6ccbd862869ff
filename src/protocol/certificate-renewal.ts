import type { RenewFunction } from '../core/certificates.js';
import { createManagerClient } from './manager-client.js';

/** Longest a renewal call may take. */
const RENEW_TIMEOUT_MS = 30_000;

/**
 * Renewal through the manager's RenewCertificate RPC at `address` (host:port),
 * on a connection of its own made with the certificate being renewed: the
 * manager reads our name and role from it.
 */
export function renewThroughManager(address: string): RenewFunction {
  return async (tls, csrPem) => {
    const client = createManagerClient({ address, tls });
    try {
      const answer = await client.renewCertificate({ csrPem }, { timeoutMs: RENEW_TIMEOUT_MS });
      return { certificatePem: answer.certificatePem, caPem: answer.caPem };
    } finally {
      client.close();
    }
  };
}
