import { buildRestApp, type RestApp } from '../../core/http/app.js';
import type { Logger } from '../../core/log.js';
import type { Sessions } from '../auth/sessions.js';
import { CSRF_HEADER } from '../auth/tokens.js';
import { CONSOLE_COOKIE } from '../gateway/types.js';
import { type CloudAccess, CloudAccessSchema, type CloudPrincipal, cloudDenial } from './access.js';

export type CloudApp = RestApp;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The console's REST server (core/http/app.ts). It never listens: the
 * gateway hands it the console host's requests (`app.server.emit('request',
 * req, res)`), so TLS is the gateway's. The one credential is the console
 * session cookie (auth/sessions.ts); a state-changing request — public ones
 * like sign-in and join included — must come from the console's Origin, and
 * a signed-in one must also carry the session's CSRF token; both are checked
 * before the body is read.
 */
export async function buildCloudApp(options: {
  logger: Logger;
  sessions: Sessions;
  rateLimit: { perSession: number; perAddress: number };
  bodyLimit?: number;
}): Promise<CloudApp> {
  const { sessions } = options;
  const app = await buildRestApp<CloudAccess, CloudPrincipal>({
    title: 'Warren cloud API',
    https: null,
    logger: options.logger,
    accessSchema: CloudAccessSchema,
    authenticate: (req) => sessions.authenticate(req),
    denial: cloudDenial,
    rateLimit: { perCredential: options.rateLimit.perSession, perAddress: options.rateLimit.perAddress },
    securitySchemes: {
      session: {
        type: 'apiKey',
        in: 'cookie',
        name: CONSOLE_COOKIE,
        description: `the console session; state-changing requests also need Origin and ${CSRF_HEADER}`,
      },
    },
    security: [{ session: [] }],
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
  });
  // Cross-origin state changes are refused for every route, before any other
  // check (public routes have no session whose token could be asked for).
  app.addHook('onRequest', async (req) => {
    if (!SAFE_METHODS.has(req.method)) sessions.checkOrigin(req);
  });
  // Every answer of the console host, errors and 404s included, is never
  // framed, sniffed or cached by a shared cache; the console's own routes
  // (routes/console.ts) set their page CSP first and keep it.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    }
    if (!reply.hasHeader('x-content-type-options')) reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  return app;
}
