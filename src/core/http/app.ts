import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
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
import { databaseError, isDatabaseDown } from '../db/database.js';
import { WarrenError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * A route's access rule, as the role defines it (the manager's scopes and
 * roles, the store's admin/maintainer rules). The shape each role accepts is
 * checked against its `accessSchema` when the route is registered, so a typo
 * stops the server at start rather than opening a route.
 */
export interface RouteAccess {
  public?: boolean;
  [rule: string]: unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Set by the gate for non-public routes; read it through the role's typed accessor. */
    principal?: unknown;
  }
}

/** The Fastify instance type every route module of a REST role receives. */
export type RestApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What every principal offers the gate: the key of the per-credential rate limit. */
export interface BasePrincipal {
  credentialId: string;
}

export interface RestAppOptions<A extends RouteAccess, P extends BasePrincipal> {
  /** OpenAPI title, e.g. 'Warren manager API'. */
  title: string;
  https: { cert: string; key: string } | null;
  logger: Logger;
  /** TypeBox schema of the role's access rules; every route's `config.access` must match it. */
  accessSchema: TSchema;
  /**
   * Who makes this request (a non-public route): throws a 401 WarrenError when
   * there is no valid credential. Runs before the body is read.
   */
  authenticate(req: FastifyRequest): Promise<P>;
  /** Why `principal` may not use a route with `access` (a 403 WarrenError), or undefined. */
  denial(access: A, principal: P): WarrenError | undefined;
  rateLimit: { perCredential: number; perAddress: number };
  /** OpenAPI security schemes, and the requirement put on every non-public operation. */
  securitySchemes: Record<string, unknown>;
  security: Array<Record<string, string[]>>;
  /** Largest request body accepted (routes may set their own). */
  bodyLimit?: number;
}

/** Answers 429 with Retry-After: the shape every limiter uses. */
export function tooManyRequests(reply: FastifyReply, retryAfterMs: number, what: string): WarrenError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  reply.header('retry-after', String(seconds));
  return new WarrenError('RATE_LIMITED', `${what}; retry in ${seconds} s`, 429);
}

/** The credential of `Authorization: Bearer <credential>` (printable ASCII, at most 512), or undefined. */
export function bearerOf(req: FastifyRequest): string | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(req.headers.authorization ?? '');
  return match?.[1];
}

/** The principal the gate set on `req`; throws (500) on a route that has none, so none is ever assumed. */
export function requestPrincipal<P>(req: FastifyRequest): P {
  if (req.principal === undefined) throw new Error(`route ${req.url} read a principal it has not got`);
  return req.principal as P;
}

/**
 * Builds a REST server: HTTPS, JSON errors as `{error: {code, message}}`,
 * the OpenAPI document at /api/v1/openapi.json, a per-address rate limit on
 * every request and a per-credential one once the credential is known, and the
 * authentication gate driven by each route's `config.access`.
 */
export async function buildRestApp<A extends RouteAccess, P extends BasePrincipal>(
  options: RestAppOptions<A, P>,
): Promise<RestApp> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    trustProxy: false,
    ...(options.https ? { https: { ...options.https, minVersion: 'TLSv1.2' as const } } : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as RestApp;

  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (!access && !route.url.startsWith('/api/v1/openapi')) {
      throw new Error(`route ${route.method} ${route.url} declares no access rule`);
    }
    if (access && !Value.Check(options.accessSchema, access)) {
      throw new Error(`route ${route.method} ${route.url} has an access rule this role does not know`);
    }
    // `x-warren-access` publishes each rule in the OpenAPI document, so the
    // route-access tests (and clients) can see what every operation needs.
    if (access && !access.public) {
      route.schema = { ...route.schema, security: options.security, 'x-warren-access': access } as never;
    } else if (access) {
      route.schema = { ...route.schema, 'x-warren-access': access } as never;
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: options.title, version: '1' },
      components: { securitySchemes: options.securitySchemes as never },
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
    max: options.rateLimit.perCredential,
    timeWindow: 1000,
    keyGenerator: (req) => `cred:${(req.principal as P | undefined)?.credentialId ?? req.ip}`,
  });

  // preParsing: after the per-address limit (a route-level onRequest hook) and
  // before the body is parsed or validated, so an anonymous or unentitled
  // caller gets 401/403, never a 400 that tells it about the route.
  app.addHook('preParsing', async (req, reply) => {
    const access = req.routeOptions.config.access as A | undefined;
    if (!access || access.public) return;
    let principal: P;
    try {
      principal = await options.authenticate(req);
    } catch (err) {
      throw databaseError(err);
    }
    req.principal = principal;
    const limit = await perCredential(req);
    if (!limit.isAllowed && limit.isExceeded) {
      throw tooManyRequests(reply, limit.ttl, 'too many requests with this credential');
    }
    const refused = options.denial(access, principal);
    if (refused) throw refused;
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
