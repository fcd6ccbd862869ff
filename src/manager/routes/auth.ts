import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import { sessionId, sha256Hex } from '../../core/auth/secrets.js';
import { WarrenError } from '../../core/errors.js';
import { tooManyRequests } from '../../core/http/app.js';
import type { ManagerContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

const UserJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Union([Type.Literal('root'), Type.Literal('guest')]),
  must_change_password: Type.Boolean(),
});

/**
 * Login sessions: log in (public, rate-limited per user name and per
 * address), log out, change one's password. Every attempt is audited,
 * never with the password.
 */
export async function authRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.post(
    '/api/v1/auth/login',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Log in: a session token for `Authorization: Bearer`',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ token: Type.String(), expires_at: Type.String(), user: UserJson }),
        },
      },
    },
    async (req, reply) => {
      const { name, password } = req.body;
      const wait = ctx.auth.loginRetryAfterMs(name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many failed logins for this user or address');
      const session = await ctx.auth.login(name, password, req.ip);
      if (!session) {
        await ctx.audit.record({
          actor: name,
          action: 'auth.login_failed',
          target: `user:${name}`,
          address: req.ip,
        });
        throw new WarrenError('INVALID_CREDENTIALS', 'wrong user name or password', 401);
      }
      await ctx.audit.record({
        actor: name,
        action: 'auth.login',
        target: `user:${name}`,
        address: req.ip,
        detail: { session: sessionId(sha256Hex(session.token)) },
      });
      return session;
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      config: { access: { scope: 'read', session: true, allowedBeforePasswordChange: true } },
      schema: { summary: 'End this login session', response: { 204: Type.Null() } },
    },
    async (req, reply) => {
      await ctx.auth.logout(bearerOf(req));
      const principal = principalOf(req);
      await ctx.audit.record({
        actor: principal.userName,
        action: 'auth.logout',
        target: `user:${principal.userName}`,
        address: req.ip,
        detail: { session: principal.credentialId },
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/users/me/password',
    {
      config: { access: { scope: 'read', session: true, allowedBeforePasswordChange: true } },
      schema: {
        summary: "Change one's own password (ends one's other sessions)",
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
      const principal = principalOf(req);
      const wait = ctx.auth.loginRetryAfterMs(principal.userName, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many wrong passwords for this user or address');
      try {
        await ctx.auth.changePassword(
          bearerOf(req),
          principal.userId,
          req.body.current_password,
          req.body.new_password,
          req.ip,
        );
      } catch (err) {
        if (err instanceof WarrenError && err.code === 'WRONG_PASSWORD') {
          await ctx.audit.record({
            actor: principal.userName,
            action: 'user.password_change_failed',
            target: `user:${principal.userName}`,
            address: req.ip,
          });
        }
        throw err;
      }
      await ctx.audit.record({
        actor: principal.userName,
        action: 'user.password_change',
        target: `user:${principal.userName}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
}

/** The bearer secret the gate already checked (it matched the header's format). */
function bearerOf(req: FastifyRequest): string {
  return (req.headers.authorization ?? '').replace(/^Bearer /, '');
}
