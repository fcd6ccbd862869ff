import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { errorMessage } from '../../core/errors.js';
import { formatHostPort } from '../../core/net.js';
import { ManagerService } from '../../protocol/gen/manager_pb.js';
import type { ManagerContext } from '../context.js';
import { callerFromRequest, callerOfSocket, rpcCallerKey } from './identity.js';
import { CallerLimiter, createManagerService } from './service.js';

/** Largest request accepted: a SyncRequest or a CSR is a few KiB. */
export const MAX_RPC_MESSAGE_BYTES = 64 * 1024;
/** Streams per connection: components make one call at a time. */
const MAX_STREAMS = 16;
/** Sessions still open this long after close() are destroyed. */
const CLOSE_GRACE_MS = 1_000;

export interface RpcServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

/**
 * The manager's RPC port: HTTP/2 with mutual TLS (a client certificate from
 * the manager's CA is required), serving ManagerService to schedulers, seed
 * peers and peers. A connection whose certificate is revoked is cut at the
 * handshake; calls re-check it, since the list changes under open connections.
 */
export async function startRpcServer(ctx: ManagerContext): Promise<RpcServer> {
  const service = createManagerService(ctx, new CallerLimiter(ctx.settings.keepaliveIntervalMs));
  const handler = connectNodeAdapter({
    routes: (router) => router.service(ManagerService, service),
    contextValues: (req) => createContextValues().set(rpcCallerKey, callerFromRequest(req)),
    readMaxBytes: MAX_RPC_MESSAGE_BYTES,
    writeMaxBytes: 64 * 1024 * 1024,
  });
  const server: Http2SecureServer = createSecureServer(
    {
      ...ctx.tls,
      requestCert: true,
      rejectUnauthorized: true,
      allowHTTP1: false,
      minVersion: 'TLSv1.2',
      settings: { maxConcurrentStreams: MAX_STREAMS },
    },
    handler,
  );
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', (err) => ctx.log.debug({ err: errorMessage(err) }, 'rpc session error'));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const caller = callerOfSocket(socket);
    if (caller && ctx.clusters.isRevoked(caller.serial)) {
      ctx.log.info(
        { name: caller.name, serial: caller.serial },
        'rpc connection with a revoked certificate refused',
      );
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err, socket) => {
    ctx.log.info({ remote: socket.remoteAddress, reason: errorMessage(err) }, 'rpc TLS handshake refused');
  });
  const { host, port } = ctx.settings.rpcListen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => ctx.log.error({ err }, 'rpc server error'));
  return {
    address: formatHostPort(host, (server.address() as AddressInfo).port),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      const grace = setTimeout(() => {
        for (const session of sessions) session.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}
