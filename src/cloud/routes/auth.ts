import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import type { AuditLog } from '../../core/db/audit-log.js';
import { type RestApp, tooManyRequests } from '../../core/http/app.js';
import type { LoginLimits } from '../auth/login-limits.js';
import type { Sessions } from '../auth/sessions.js';
import { consoleCookie } from '../auth/tokens.js';
import type { Users } from '../auth/users.js';
import type { CloudDatabase } from '../db/schema.js';
import { principalOf } from '../http/access.js';

export interface AuthRouteDeps {
  users: Users;
  sessions: Sessions;
  limits: LoginLimits;
  audit: AuditLog<CloudDatabase>;
}

export const UserJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Union([Type.Literal('admin'), Type.Literal('user')]),
  must_change_password: Type.Boolean(),
  totp: Type.Boolean(),
});
const MeJson = Type.Object({ user: UserJson, csrf_token: Type.String() });
const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });
const TotpCode = Type.String({ pattern: '^[0-9]{6}$' });
const Empty = { 204: Type.Null() };

/** Sign-in and sign-out, one's own account: password and TOTP. */
export function registerAuthRoutes(app: RestApp, deps: AuthRouteDeps): void {
  const { users, sessions, limits, audit } = deps;

  app.post(
    '/api/v1/login',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Sign in: sets the session cookie, answers the CSRF token',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64 }),
            password: Password,
            totp: Type.Optional(TotpCode),
          },
          { additionalProperties: false },
        ),
        response: { 200: MeJson },
      },
    },
    async (req, reply) => {
      const { name, password, totp } = req.body;
      const wait = limits.retryAfterMs(name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many failed sign-ins for this name or address');
      let user: Awaited<ReturnType<Users['verifyLogin']>>;
      try {
        user = await users.verifyLogin(name, password, totp, req.ip);
      } catch (err) {
        await audit.recordQuietly({
          actor: name,
          action: 'auth.login_refused',
          target: `user:${name}`,
          address: req.ip,
          detail: { reason: (err as { code?: string }).code ?? 'error' },
        });
        throw err;
      }
      const opened = await sessions.create(user.id, req.ip, String(req.headers['user-agent'] ?? ''));
      await audit.record({
        actor: user.name,
        action: 'auth.login',
        target: `user:${user.id}`,
        address: req.ip,
      });
      reply.header('set-cookie', consoleCookie(opened.secret, sessions.lifetimeMs));
      return { user: publicUser(user), csrf_token: opened.csrfToken };
    },
  );

  app.post(
    '/api/v1/logout',
    {
      config: { access: {} },
      schema: { summary: 'Sign out: ends this session and its app sessions', response: Empty },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await sessions.end(p.sessionId);
      await audit.record({
        actor: p.name,
        action: 'auth.logout',
        target: `user:${p.userId}`,
        address: req.ip,
      });
      reply.header('set-cookie', consoleCookie('', 0));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/me',
    {
      config: { access: {} },
      schema: { summary: 'Who is signed in, and the CSRF token', response: { 200: MeJson } },
    },
    async (req) => {
      const p = principalOf(req);
      return { user: publicUser(await users.get(p.userId)), csrf_token: sessions.csrfToken(p.sessionId) };
    },
  );

  app.post(
    '/api/v1/me/password',
    {
      config: { access: {} },
      schema: {
        summary: "Change one's password (ends one's other sessions)",
        body: Type.Object(
          { current_password: Password, new_password: Password },
          { additionalProperties: false },
        ),
        response: Empty,
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const wait = limits.retryAfterMs(p.name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many wrong passwords for this name or address');
      await users.changePassword(
        p.userId,
        req.body.current_password,
        req.body.new_password,
        p.sessionId,
        req.ip,
      );
      await audit.record({
        actor: p.name,
        action: 'user.password_change',
        target: `user:${p.userId}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/me/totp',
    {
      config: { access: {} },
      schema: {
        summary: 'Start setting up a TOTP second factor (the secret is shown once)',
        response: { 200: Type.Object({ secret: Type.String(), otpauth_url: Type.String() }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const started = await users.beginTotp(p.userId);
      await audit.record({
        actor: p.name,
        action: 'user.totp_begin',
        target: `user:${p.userId}`,
        address: req.ip,
      });
      return started;
    },
  );

  app.post(
    '/api/v1/me/totp/confirm',
    {
      config: { access: {} },
      schema: {
        summary: 'Turn the second factor on with a code from the authenticator app',
        body: Type.Object({ code: TotpCode }, { additionalProperties: false }),
        response: Empty,
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await users.confirmTotp(p.userId, req.body.code);
      await audit.record({
        actor: p.name,
        action: 'user.totp_on',
        target: `user:${p.userId}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/api/v1/me/totp',
    {
      config: { access: {} },
      schema: {
        summary: 'Turn the second factor off (asks for the password)',
        body: Type.Object({ password: Password }, { additionalProperties: false }),
        response: Empty,
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const wait = limits.retryAfterMs(p.name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many wrong passwords for this name or address');
      await users.disableTotp(p.userId, req.body.password, req.ip);
      await audit.record({
        actor: p.name,
        action: 'user.totp_off',
        target: `user:${p.userId}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
}

function publicUser(u: {
  id: string;
  name: string;
  role: 'admin' | 'user';
  must_change_password: boolean;
  totp: boolean;
}) {
  return { id: u.id, name: u.name, role: u.role, must_change_password: u.must_change_password, totp: u.totp };
}
