import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { databaseError, isDatabaseDown } from '../db/database.js';
import { type Access, denial, type Principal } from './access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The Fastify instance type every route module receives. */
export type ManagerApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

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

/** Answers 429 with Retry-After: the shape every limiter in the manager uses. */
export function tooManyRequests(reply: FastifyReply, retryAfterMs: number, what: string): WarrenError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  reply.header('retry-after', String(seconds));
  return new WarrenError('RATE_LIMITED', `${what}; retry in ${seconds} s`, 429);
}

/**
 * Builds the REST server: HTTPS, JSON errors as `{error: {code, message}}`,
 * the OpenAPI document at /api/v1/openapi.json, a per-address rate limit on
 * every request and a per-credential one once the bearer is known, and the
 * authentication gate driven by each route's `config.access`.
 */
export async function buildApp(options: AppOptions): Promise<ManagerApp> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    trustProxy: false,
    ...(options.https ? { https: { ...options.https, minVersion: 'TLSv1.2' as const } } : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as ManagerApp;

  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (!access && !route.url.startsWith('/api/v1/openapi')) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule`);
    }
    // `x-warren-access` publishes each rule in the OpenAPI document, so the
    // route-access test (and clients) can see what every operation needs.
    if (access && !access.public) {
      route.schema = { ...route.schema, security: [{ bearer: [] }], 'x-warren-access': access } as never;
    } else if (access) {
      route.schema = { ...route.schema, 'x-warren-access': access } as never;
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Warren manager API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(rateLimit, {
    global: true,
    max: options.rateLimit.perAddress,
    timeWindow: 1000,
    cache: 10_000,
    keyGenerator: (req) => `addr:${req.ip}`,
    errorResponseBuilder: (_req, ctx) => {
      const err = new WarrenError(
        'RATE_LIMITED',
        `too many requests from this address; retry in ${ctx.after}`,
        429,
      );
      return { statusCode: 429, ...err.toJSON() };
    },
  });
  const perCredential = app.createRateLimit({
    max: options.rateLimit.perToken,
    timeWindow: 1000,
    keyGenerator: (req) => `cred:${req.principal?.credentialId ?? req.ip}`,
  });

  // preParsing: after the per-address limit (a route-level onRequest hook) and
  // before the body is parsed or validated, so an anonymous or unentitled
  // caller gets 401/403, never a 400 that tells it about the route.
  app.addHook('preParsing', async (req, reply) => {
    const access = req.routeOptions.config.access;
    if (!access || access.public) return;
    const principal = await authenticate(req, options.authenticator);
    req.principal = principal;
    const limit = await perCredential(req);
    if (!limit.isAllowed && limit.isExceeded) {
      throw tooManyRequests(reply, limit.ttl, 'too many requests with this credential');
    }
    if (principal.mustChangePassword && !access.allowedBeforePasswordChange) {
      throw new WarrenError(
        'PASSWORD_CHANGE_REQUIRED',
        'this account has a one-time password: change it first (POST /api/v1/users/me/password)',
        403,
      );
    }
    const why = denial(access, principal);
    if (why) throw new WarrenError('FORBIDDEN', why, 403);
  });

  app.setErrorHandler((err, req, reply) => {
    const body = errorBody(err);
    if (body.status >= 500) req.log.error({ err, url: req.url }, 'request failed');
    reply.status(body.status).send(body.json);
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send(new WarrenError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`, 404).toJSON());
  });

  app.get(
    '/api/v1/openapi.json',
    { config: { access: { public: true } }, schema: { hide: true } },
    async () => app.swagger(),
  );
  return app;
}

async function authenticate(req: FastifyRequest, authenticator: Authenticator): Promise<Principal> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
  if (!match) {
    throw new WarrenError('UNAUTHENTICATED', 'this endpoint needs `Authorization: Bearer <token>`', 401);
  }
  let principal: Principal | undefined;
  try {
    principal = await authenticator.authenticate(match[1]!, req.ip);
  } catch (err) {
    throw databaseError(err);
  }
  if (!principal) {
    throw new WarrenError('UNAUTHENTICATED', 'the token is unknown, expired or revoked', 401);
  }
  return principal;
}

function errorBody(err: unknown): { status: number; json: ReturnType<WarrenError['toJSON']> } {
  if (err instanceof WarrenError) return { status: err.status, json: err.toJSON() };
  if (isDatabaseDown(err)) {
    const down = databaseError(err) as WarrenError;
    return { status: 503, json: down.toJSON() };
  }
  const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string };
  if (e.validation) {
    return {
      status: 400,
      json: new WarrenError('BAD_REQUEST', e.message ?? 'invalid request', 400).toJSON(),
    };
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.statusCode === 429 ? 'RATE_LIMITED' : e.statusCode === 413 ? 'TOO_LARGE' : 'BAD_REQUEST';
    return {
      status: e.statusCode,
      json: new WarrenError(code, e.message ?? 'bad request', e.statusCode).toJSON(),
    };
  }
  return { status: 500, json: new WarrenError('INTERNAL', 'internal error', 500).toJSON() };
}
