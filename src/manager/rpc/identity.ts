import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { Code, ConnectError, createContextKey, type HandlerContext } from '@connectrpc/connect';
import { identityOf } from '../../core/tls.js';
import { normalizeSerial } from '../../core/trust.js';

/** Who called, from the verified client certificate of the connection. */
export interface RpcCaller {
  /** Certificate CN: the component's id. */
  name: string;
  /** Certificate OU. */
  role: string;
  /** Certificate serial, normal form (core/trust.ts). */
  serial: string;
  /** The connection's remote address (what a component that does not know its own IP is reached at). */
  address: string;
}

export const rpcCallerKey = createContextKey<RpcCaller | undefined>(undefined, {
  description: 'identity from the verified client certificate',
});

const callers = new WeakMap<object, RpcCaller | undefined>();

/** The caller of the connection under `req`, read once per TLS connection. */
export function callerFromRequest(req: IncomingMessage | Http2ServerRequest): RpcCaller | undefined {
  const socket = ((req as Http2ServerRequest).stream?.session?.socket ?? req.socket) as TLSSocket | undefined;
  if (!socket) return undefined;
  if (!callers.has(socket)) callers.set(socket, callerOfSocket(socket));
  return callers.get(socket);
}

/** Name, role and serial of an authorized TLS socket's client certificate. */
export function callerOfSocket(socket: TLSSocket): RpcCaller | undefined {
  const identity = identityOf(socket);
  const serial = socket.getPeerCertificate()?.serialNumber;
  if (!identity?.name || !serial) return undefined;
  return { ...identity, serial: normalizeSerial(serial), address: socket.remoteAddress ?? '' };
}

/**
 * The caller, if its certificate carries one of `roles` and is not revoked
 * (the revocation list can change while a connection stays open).
 */
export function requireCaller(
  ctx: HandlerContext,
  roles: ReadonlySet<string>,
  isRevoked: (serial: string) => boolean,
): RpcCaller {
  const caller = ctx.values.get(rpcCallerKey);
  if (!caller) throw new ConnectError('no verified client certificate', Code.Unauthenticated);
  if (isRevoked(caller.serial)) {
    throw new ConnectError(`certificate ${caller.serial} has been revoked`, Code.PermissionDenied);
  }
  if (!roles.has(caller.role)) {
    throw new ConnectError(
      `certificate role '${caller.role}' may not call ${ctx.method.name} (${[...roles].join(', ')} only)`,
      Code.PermissionDenied,
    );
  }
  return caller;
}
