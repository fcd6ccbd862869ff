import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';
import { connectOptions } from './connect-options.js';
import { SchedulerService } from './gen/scheduler_pb.js';

/** How to reach a scheduler. */
export interface SchedulerClientOptions {
  /** 'host:port' ('[::1]:port' for IPv6). */
  address: string;
  /** The caller's certificate and key, and the CA that signed the scheduler's. */
  tls: TlsMaterial;
  /** Interval of HTTP/2 pings that notice a dead connection; default 15 s. */
  pingIntervalMs?: number;
  /** The manager's revocation list: a scheduler with a revoked certificate is refused. */
  trust?: TrustState;
}

/** The typed SchedulerService client, plus `close()` for its HTTP/2 connection. */
export type SchedulerClient = Client<typeof SchedulerService> & {
  /** Closes the connection; open calls fail. */
  close(): void;
};

/**
 * A gRPC client of the scheduler over one HTTP/2 connection with mutual TLS:
 * the scheduler's certificate is checked against the CA and the address's
 * host name (scheduler certificates carry localhost, loopback and the host
 * name); ours tells the scheduler who we are. Streams of every call share the
 * connection.
 */
export function createSchedulerClient(options: SchedulerClientOptions): SchedulerClient {
  const baseUrl = `https://${options.address}`;
  const sessionManager = new Http2SessionManager(
    baseUrl,
    { pingIntervalMs: options.pingIntervalMs ?? 15_000, pingTimeoutMs: 10_000 },
    connectOptions(options.tls, 'scheduler', options.trust),
  );
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return Object.assign(createClient(SchedulerService, transport), {
    close: () => sessionManager.abort(),
  });
}
