import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { WarrenError } from '../../core/errors.js';
import { requestPrincipal } from '../../core/http/app.js';

/** Who made a request, once their credential checked out. */
export interface StorePrincipal {
  /** 'session': the console's cookie; 'token': an API token (`Authorization: Bearer wst_…`). */
  kind: 'session' | 'token';
  maintainerId: string;
  name: string;
  admin: boolean;
  official: boolean;
  /** Token id or session-hash prefix: the rate-limit and audit key. */
  credentialId: string;
}

/**
 * Every route declares its access rule in `config.access` (core/http/app.ts
 * refuses to start with a route that has none):
 * - `public`: no credential (search, app pages, the index, downloads, login, registration);
 * - otherwise a signed-in maintainer; `admin`: a store admin only;
 *   `session`: the console's login session, not an API token (token management).
 */
export type StoreAccess = { public: true } | { public?: false; admin?: boolean; session?: boolean };

export const StoreAccessSchema = Type.Union([
  Type.Object({ public: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object(
    {
      public: Type.Optional(Type.Literal(false)),
      admin: Type.Optional(Type.Boolean()),
      session: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);

/** Why `principal` may not use a route with `access`, or undefined. */
export function storeDenial(access: StoreAccess, principal: StorePrincipal): WarrenError | undefined {
  if (access.public) return undefined;
  if (access.session && principal.kind !== 'session') {
    return new WarrenError('FORBIDDEN', 'this action needs a console login session, not an API token', 403);
  }
  if (access.admin && !principal.admin) {
    return new WarrenError('FORBIDDEN', 'this action needs a store admin', 403);
  }
  return undefined;
}

/** The caller of a non-public route, as the gate checked it. */
export function principalOf(req: FastifyRequest): StorePrincipal {
  return requestPrincipal<StorePrincipal>(req);
}
