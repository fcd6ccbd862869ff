import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { requestPrincipal } from '../../core/http/app.js';
import type { UserRole } from '../db/schema.js';

/** What a personal access token may be allowed to do. */
export const TOKEN_SCOPES = ['read', 'job', 'cluster'] as const;
export type Scope = (typeof TOKEN_SCOPES)[number];

/** Who made a request, once their bearer credential checked out. */
export interface Principal {
  kind: 'session' | 'token';
  userId: string;
  userName: string;
  role: UserRole;
  /** A session carries every scope its role allows; a token only its own. */
  scopes: ReadonlySet<Scope>;
  /** Token id (kind 'token') or session-hash prefix (kind 'session'): the rate-limit and audit key. */
  credentialId: string;
  /** The user still has a one-time password: only routes marked `allowedBeforePasswordChange` serve them. */
  mustChangePassword?: boolean;
}

/**
 * Every route declares its access rule in `config.access`; a route without
 * one makes the server refuse to start (http/app.ts), so nothing is public by
 * accident.
 * - `public`: no credential (health, CA certificate, login, enrolment with a join token).
 * - `scope`: the scope a token needs; sessions have all scopes.
 * - `write`: mutates state, so a `guest` is refused.
 * - `root`: only a root user (user management).
 * - `session`: a login session is required, a token is refused (token management).
 * - `allowedBeforePasswordChange`: also serves a user whose one-time password
 *   is not changed yet (password change, logout, who am I); every other route
 *   answers them 403 PASSWORD_CHANGE_REQUIRED.
 */
export type Access =
  | { public: true }
  | {
      public?: false;
      scope: Scope;
      write?: boolean;
      root?: boolean;
      session?: boolean;
      allowedBeforePasswordChange?: boolean;
    };

/** Why `principal` may not do what `access` needs, or undefined if it may. */
export function denial(access: Access, principal: Principal): string | undefined {
  if (access.public) return undefined;
  if (access.session && principal.kind !== 'session') return 'this action needs a login session, not a token';
  if (access.root && principal.role !== 'root') return "this action needs the 'root' role";
  if (access.write && principal.role === 'guest') return "the 'guest' role is read-only";
  if (!principal.scopes.has(access.scope)) return `this token lacks the '${access.scope}' scope`;
  return undefined;
}

/** {@link Access} as a schema: every route's rule is checked against it at registration (core/http/app.ts). */
export const AccessSchema = Type.Union([
  Type.Object({ public: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object(
    {
      public: Type.Optional(Type.Literal(false)),
      scope: Type.Union(TOKEN_SCOPES.map((s) => Type.Literal(s))),
      write: Type.Optional(Type.Boolean()),
      root: Type.Optional(Type.Boolean()),
      session: Type.Optional(Type.Boolean()),
      allowedBeforePasswordChange: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);

/** The caller of a non-public route, as the gate checked it. */
export function principalOf(req: FastifyRequest): Principal {
  return requestPrincipal<Principal>(req);
}
