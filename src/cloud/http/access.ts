import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { WarrenError } from '../../core/errors.js';
import { requestPrincipal } from '../../core/http/app.js';

/** Who made a request, once their session checked out. */
export interface CloudPrincipal {
  userId: string;
  name: string;
  role: 'admin' | 'user';
  /** The console session's id (SHA-256 of its secret). */
  sessionId: string;
  /** The rate-limit and audit key (a prefix of the session id). */
  credentialId: string;
}

/**
 * Every route declares its access rule in `config.access` (core/http/app.ts
 * refuses to start with a route that has none):
 * - `public`: no session (login, join by invitation, health);
 * - otherwise a signed-in user; `admin`: an admin only.
 * Per-app rules (may this user open/see app X) are checked by the route
 * itself with the access service, since they depend on the app in the path.
 */
export type CloudAccess = { public: true } | { public?: false; admin?: boolean };

export const CloudAccessSchema = Type.Union([
  Type.Object({ public: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object(
    { public: Type.Optional(Type.Literal(false)), admin: Type.Optional(Type.Boolean()) },
    { additionalProperties: false },
  ),
]);

/** Why `principal` may not use a route with `access`, or undefined. */
export function cloudDenial(access: CloudAccess, principal: CloudPrincipal): WarrenError | undefined {
  if (access.public) return undefined;
  if (access.admin && principal.role !== 'admin') {
    return new WarrenError('FORBIDDEN', 'this action needs an admin', 403);
  }
  return undefined;
}

/** The caller of a non-public route, as the gate checked it. */
export function principalOf(req: FastifyRequest): CloudPrincipal {
  return requestPrincipal<CloudPrincipal>(req);
}
