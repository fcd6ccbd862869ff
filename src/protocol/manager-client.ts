import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { TlsMaterial } from '../core/tls.js';
import { connectOptions } from './connect-options.js';
import { ManagerService } from './gen/manager_pb.js';

/** The typed ManagerService client, plus `close()` for its HTTP/2 connection. */
export type ManagerClient = Client<typeof ManagerService> & { close(): void };

/**
 * A gRPC client of the manager's RPC port over HTTP/2 with mutual TLS: the
 * manager's certificate is checked against the CA, the address and its role
 * (`manager`); ours names us and our role.
 */
export function createManagerClient(options: { address: string; tls: TlsMaterial }): ManagerClient {
  const baseUrl = `https://${options.address}`;
  const sessionManager = new Http2SessionManager(
    baseUrl,
    { pingIntervalMs: 30_000, pingTimeoutMs: 10_000 },
    connectOptions(options.tls, 'manager'),
  );
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return Object.assign(createClient(ManagerService, transport), { close: () => sessionManager.abort() });
}
