import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import { WarrenError } from '../../core/errors.js';
import { tooManyRequests } from '../../core/http/app.js';
import { parseDuration } from '../../core/units.js';
import { csrfTokenFor, sessionCookie } from '../auth/secrets.js';
import type { StoreContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { StoreApp } from '../http/app.js';

const MaintainerJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  admin: Type.Boolean(),
  official: Type.Boolean(),
});

/**
 * Console sessions and API tokens. Login sets the session cookie and answers
 * the CSRF token the console sends back on every state-changing request; the
 * CLI uses API tokens, which only a console session may create.
 */
export async function authRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.post(
    '/api/v1/auth/login',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Log in: sets the session cookie; answers the CSRF token',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            csrf_token: Type.String(),
            expires_at: Type.String(),
            maintainer: MaintainerJson,
          }),
        },
      },
    },
    async (req, reply) => {
      const { name, password } = req.body;
      const wait = ctx.auth.loginRetryAfterMs(name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many failed logins for this name or address');
      const session = await ctx.auth.login(name, password, req.ip);
      if (!session) {
        await ctx.audit.record({
          actor: name,
          action: 'auth.login_failed',
          target: `maintainer:${name}`,
          address: req.ip,
        });
        throw new WarrenError('INVALID_CREDENTIALS', 'wrong name or password', 401);
      }
      await ctx.audit.record({
        actor: name,
        action: 'auth.login',
        target: `maintainer:${name}`,
        address: req.ip,
      });
      reply.header('set-cookie', sessionCookie(session.secret, ctx.settings.sessionTtlMs));
      return { csrf_token: session.csrfToken, expires_at: session.expiresAt, maintainer: session.maintainer };
    },
  );

  app.get(
    '/api/v1/auth/session',
    {
      config: { access: { session: true } },
      schema: {
        summary: "This console session's maintainer and CSRF token (same-origin pages only can read it)",
        response: { 200: Type.Object({ csrf_token: Type.String(), maintainer: MaintainerJson }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return {
        csrf_token: csrfTokenFor(ctx.auth.sessionSecretOf(req)!),
        maintainer: { id: p.maintainerId, name: p.name, admin: p.admin, official: p.official },
      };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      config: { access: { session: true } },
      schema: { summary: 'End this console session', response: { 204: Type.Null() } },
    },
    async (req, reply) => {
      await ctx.auth.logout(ctx.auth.sessionSecretOf(req)!);
      const p = principalOf(req);
      await ctx.audit.record({
        actor: p.name,
        action: 'auth.logout',
        target: `maintainer:${p.name}`,
        address: req.ip,
      });
      reply.header('set-cookie', sessionCookie('', 0));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/maintainers/me/password',
    {
      config: { access: { session: true } },
      schema: {
        summary: "Change one's password (ends one's other sessions)",
        body: Type.Object(
          {
            current_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
            new_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const wait = ctx.auth.loginRetryAfterMs(p.name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many wrong passwords for this name or address');
      await ctx.auth.changePassword(
        p,
        req.body.current_password,
        req.body.new_password,
        req.ip,
        ctx.auth.sessionSecretOf(req),
      );
      await ctx.audit.record({
        actor: p.name,
        action: 'maintainer.password_change',
        target: `maintainer:${p.name}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: { session: true } },
      schema: {
        summary: 'Create an API token for the CLI (shown once)',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
            expires_in: Type.String({ default: '90d', maxLength: 16, description: "e.g. '30d', '12h'" }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            id: Type.String(),
            token: Type.String(),
            name: Type.String(),
            expires_at: Type.String(),
          }),
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const lifetime = parseDuration(req.body.expires_in, 'expires_in');
      const created = await ctx.auth.createToken(p, req.body.name, lifetime);
      await ctx.audit.record({
        actor: p.name,
        action: 'token.create',
        target: `token:${created.id}`,
        address: req.ip,
        detail: { name: created.name, expires_at: created.expires_at },
      });
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { access: {} },
      schema: {
        summary: "One's API tokens (never their secrets)",
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                name: Type.String(),
                created_at: Type.String(),
                expires_at: Type.String(),
                last_used_at: Type.Union([Type.String(), Type.Null()]),
                revoked_at: Type.Union([Type.String(), Type.Null()]),
              }),
            ),
          }),
        },
      },
    },
    async (req) => ({ items: await ctx.auth.listTokens(principalOf(req)) }),
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: {} },
      schema: {
        summary: 'Revoke one of your API tokens',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await ctx.auth.revokeToken(p, req.params.id);
      await ctx.audit.record({
        actor: p.name,
        action: 'token.revoke',
        target: `token:${req.params.id}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
}
