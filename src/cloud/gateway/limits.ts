import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { ProxyLimits } from './proxy.js';

/* The gateway's limits and defaults, its certificate check, and listening. */

export interface GatewayLimits extends ProxyLimits {
  /** Largest request head (request line + headers) in bytes; beyond it 431. */
  maxHeaderSize: number;
  /** Time for a client to send the whole head; a slow one is cut (408). */
  headersTimeoutMs: number;
  /** Time for a client to send the whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  keepAliveTimeoutMs: number;
  /** Time for a TLS handshake. */
  tlsHandshakeTimeoutMs: number;
  /** Time for an app to answer an upgrade (WebSocket) request. */
  upgradeTimeoutMs: number;
  /** Open client connections at most (upgraded ones included). */
  maxConnections: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 15_000,
  tlsHandshakeTimeoutMs: 10_000,
  upgradeTimeoutMs: 10_000,
  maxConnections: 10_000,
  maxBodyBytes: 100 * 1024 * 1024,
  upstreamConnectTimeoutMs: 5_000,
  upstreamResponseTimeoutMs: 60_000,
  upstreamIdleTimeoutMs: 300_000,
  upstreamMaxSockets: 128,
};

export interface GatewayCertificate {
  /** PEM chain: the wildcard certificate for `<domain>` and `*.<domain>`, then intermediates. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** Refuses a certificate and key that TLS cannot use together (clear error, nothing swapped). */
export function checkCertificate(certificate: GatewayCertificate): void {
  try {
    createSecureContext({ cert: certificate.cert, key: certificate.key });
  } catch (err) {
    throw new WarrenError(
      'BAD_CERTIFICATE',
      `the gateway cannot use this certificate and key: ${errorMessage(err)}`,
      400,
    );
  }
}

export async function listen(server: Server | HttpsServer, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
