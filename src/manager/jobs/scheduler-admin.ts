import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { TlsMaterial } from '../../core/tls.js';
import { SchedulerAdminService } from '../../protocol/gen/scheduler_pb.js';

/** A client of one scheduler's SchedulerAdminService, and how to hang up. */
export interface SchedulerAdmin {
  client: Client<typeof SchedulerAdminService>;
  close(): void;
}

/**
 * Connects to a scheduler over HTTP/2 with mutual TLS, with the manager's own
 * certificate (role `manager`, the only role the admin service accepts).
 * Besides the usual host name check, the server must present a certificate
 * of role `scheduler` named `schedulerId`: a peer's certificate from the same
 * CA at that address is not a scheduler.
 */
export function connectScheduler(address: string, schedulerId: string, tls: TlsMaterial): SchedulerAdmin {
  const baseUrl = `https://${address}`;
  const sessionManager = new Http2SessionManager(
    baseUrl,
    { pingIntervalMs: 15_000, pingTimeoutMs: 10_000 },
    {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      checkServerIdentity: (host: string, cert: PeerCertificate) =>
        checkServerIdentity(host, cert) ?? checkScheduler(cert, schedulerId),
    },
  );
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return { client: createClient(SchedulerAdminService, transport), close: () => sessionManager.abort() };
}

function checkScheduler(cert: PeerCertificate, schedulerId: string): Error | undefined {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const role = first(cert.subject?.OU);
  const name = first(cert.subject?.CN);
  if (role !== 'scheduler' || name !== schedulerId) {
    return new Error(
      `expected scheduler '${schedulerId}', the server is ${role ?? 'no role'} '${name ?? ''}'`,
    );
  }
  return undefined;
}
