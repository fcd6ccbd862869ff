import { buildRestApp, type RestApp } from '../../core/http/app.js';
import type { Logger } from '../../core/log.js';
import type { StoreAuth } from '../auth/auth-service.js';
import { SESSION_COOKIE } from '../auth/secrets.js';
import type { StoreSettings } from '../config.js';
import { type StoreAccess, StoreAccessSchema, type StorePrincipal, storeDenial } from './access.js';

export type StoreApp = RestApp;

/**
 * The store's REST server (core/http/app.ts): API tokens as bearer
 * credentials for the CLI, the session cookie for the console — with the
 * CSRF check on state-changing requests (auth/auth-service.ts) — and a zip
 * body parser that hands the route the raw stream (releases are streamed to
 * disk under the size limit, never parsed in memory).
 */
export async function buildStoreApp(options: {
  https: { cert: string; key: string };
  logger: Logger;
  auth: StoreAuth;
  settings: StoreSettings;
}): Promise<StoreApp> {
  const app = await buildRestApp<StoreAccess, StorePrincipal>({
    title: 'Warren store API',
    https: options.https,
    logger: options.logger,
    accessSchema: StoreAccessSchema,
    authenticate: (req) => options.auth.authenticate(req),
    denial: storeDenial,
    rateLimit: {
      perCredential: options.settings.rateLimit.perToken,
      perAddress: options.settings.rateLimit.perAddress,
    },
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'an API token (wst_…)' },
      session: {
        type: 'apiKey',
        in: 'cookie',
        name: SESSION_COOKIE,
        description: 'the console session; state-changing requests also need x-csrf-token',
      },
    },
    security: [{ bearer: [] }, { session: [] }],
  });
  app.addContentTypeParser('application/zip', (_req, payload, done) => done(null, payload));
  return app;
}
