import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { Code, ConnectError, createContextKey, type HandlerContext } from '@connectrpc/connect';
import { identityOf, type PeerIdentity } from '../core/tls.js';
import type { Host } from '../protocol/gen/scheduler_pb.js';
import type { HostInfo } from './resource/host.js';

/** The verified client certificate of the connection a call arrived on. */
export const callerKey = createContextKey<PeerIdentity | undefined>(undefined, {
  description: 'identity from the verified client certificate',
});

/** Certificate roles allowed to call the scheduler. */
const CALLER_ROLES = new Set(['peer', 'seed']);
/** The one role allowed to call SchedulerAdminService (and nothing else). */
const ADMIN_ROLE = 'manager';

const identities = new WeakMap<object, PeerIdentity | undefined>();

/**
 * Reads the caller from the TLS socket under the HTTP/2 stream (cached per
 * connection: every stream of a connection has the same certificate).
 */
export function identityFromRequest(req: IncomingMessage | Http2ServerRequest): PeerIdentity | undefined {
  const socket = ((req as Http2ServerRequest).stream?.session?.socket ?? req.socket) as TLSSocket;
  if (!socket) return undefined;
  if (!identities.has(socket)) identities.set(socket, identityOf(socket));
  return identities.get(socket);
}

/** The caller, if its certificate carries a role that may use the scheduler. */
export function requireCaller(ctx: HandlerContext): PeerIdentity {
  const caller = ctx.values.get(callerKey);
  if (!caller || !CALLER_ROLES.has(caller.role)) {
    throw new ConnectError(
      `certificate role '${caller?.role ?? 'none'}' may not call the scheduler (peer or seed only)`,
      Code.PermissionDenied,
    );
  }
  return caller;
}

/** The caller, if its certificate is the manager's: the only caller of SchedulerAdminService. */
export function requireManager(ctx: HandlerContext): PeerIdentity {
  const caller = ctx.values.get(callerKey);
  if (!caller || caller.role !== ADMIN_ROLE) {
    throw new ConnectError(
      `certificate role '${caller?.role ?? 'none'}' may not run jobs on the scheduler (manager only)`,
      Code.PermissionDenied,
    );
  }
  return caller;
}

const LIMITS = { id: 63, hostname: 253, ip: 64, idc: 128, location: 256 } as const;

/**
 * A host may only speak for itself: Host.id must be its certificate's name,
 * and only a `seed` certificate may claim to be a seed (and must).
 */
export function checkHostClaim(caller: PeerIdentity, host: Host | undefined): HostInfo {
  if (!host) throw new ConnectError('host is required', Code.InvalidArgument);
  if (host.id !== caller.name) {
    throw new ConnectError(
      `host id '${host.id}' does not match the certificate name '${caller.name}'`,
      Code.PermissionDenied,
    );
  }
  const isSeedCert = caller.role === 'seed';
  if (host.isSeed !== isSeedCert) {
    throw new ConnectError(
      host.isSeed
        ? `host '${host.id}' claims to be a seed but its certificate role is '${caller.role}'`
        : `host '${host.id}' has a seed certificate and must announce is_seed`,
      Code.PermissionDenied,
    );
  }
  for (const [field, max] of Object.entries(LIMITS)) {
    const value = host[field as keyof typeof LIMITS];
    if (value.length > max) {
      throw new ConnectError(`host.${field} is longer than ${max} characters`, Code.InvalidArgument);
    }
  }
  if (host.uploadPort > 65535) throw new ConnectError('host.upload_port is not a port', Code.InvalidArgument);
  return {
    id: host.id,
    hostname: host.hostname,
    ip: host.ip,
    uploadPort: host.uploadPort,
    isSeed: host.isSeed,
    idc: host.idc,
    location: host.location,
    uploadLimit: host.uploadLimit,
  };
}
