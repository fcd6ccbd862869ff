import type { FastifyRequest } from 'fastify';
import { WarrenError } from '../../core/errors.js';
import { bearerOf, buildRestApp, type RestApp } from '../../core/http/app.js';
import type { Logger } from '../../core/log.js';
import { type Access, AccessSchema, denial, type Principal } from './access.js';

/** The Fastify instance type every route module receives. */
export type ManagerApp = RestApp;

/** Checks a bearer credential; undefined when it is unknown, expired or revoked. */
export interface Authenticator {
  authenticate(bearer: string, address: string): Promise<Principal | undefined>;
}

export interface AppOptions {
  https: { cert: string; key: string } | null;
  logger: Logger;
  authenticator: Authenticator;
  rateLimit: { perToken: number; perAddress: number };
  /** Largest request body accepted. */
  bodyLimit?: number;
}

/**
 * The manager's REST server (core/http/app.ts): bearer credentials only
 * (sessions and personal access tokens), and a user whose password is a
 * one-time one may only use the routes that let them change it.
 */
export function buildApp(options: AppOptions): Promise<ManagerApp> {
  return buildRestApp<Access, Principal>({
    title: 'Warren manager API',
    https: options.https,
    logger: options.logger,
    accessSchema: AccessSchema,
    authenticate: (req) => authenticate(req, options.authenticator),
    denial: (access, principal) => {
      if (access.public) return undefined;
      if (principal.mustChangePassword && !access.allowedBeforePasswordChange) {
        return new WarrenError(
          'PASSWORD_CHANGE_REQUIRED',
          'this account has a one-time password: change it first (POST /api/v1/users/me/password)',
          403,
        );
      }
      const why = denial(access, principal);
      return why ? new WarrenError('FORBIDDEN', why, 403) : undefined;
    },
    rateLimit: { perCredential: options.rateLimit.perToken, perAddress: options.rateLimit.perAddress },
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    security: [{ bearer: [] }],
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
  });
}

async function authenticate(req: FastifyRequest, authenticator: Authenticator): Promise<Principal> {
  const bearer = bearerOf(req);
  if (!bearer) {
    throw new WarrenError('UNAUTHENTICATED', 'this endpoint needs `Authorization: Bearer <token>`', 401);
  }
  const principal = await authenticator.authenticate(bearer, req.ip);
  if (!principal) {
    throw new WarrenError('UNAUTHENTICATED', 'the token is unknown, expired or revoked', 401);
  }
  return principal;
}
