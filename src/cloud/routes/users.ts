import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import type { AuditLog } from '../../core/db/audit-log.js';
import { type RestApp, tooManyRequests } from '../../core/http/app.js';
import type { Invitations } from '../auth/invitations.js';
import type { LoginLimits } from '../auth/login-limits.js';
import type { Users } from '../auth/users.js';
import type { CloudDatabase } from '../db/schema.js';
import { principalOf } from '../http/access.js';

export interface UserRouteDeps {
  users: Users;
  invitations: Invitations;
  limits: LoginLimits;
  audit: AuditLog<CloudDatabase>;
  /** `https://<domain>[:port]`: invitation links point into the console. */
  consoleOrigin: string;
}

const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')]);
const ListedUser = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  totp: Type.Boolean(),
  created_at: Type.String(),
});
const UserId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Users and invitations (admin), and joining by invitation (public). */
export function registerUserRoutes(app: RestApp, deps: UserRouteDeps): void {
  const { users, invitations, limits, audit } = deps;

  app.get(
    '/api/v1/users',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Every user (admin)',
        response: { 200: Type.Object({ items: Type.Array(ListedUser) }) },
      },
    },
    async () => ({ items: await users.list() }),
  );

  app.post(
    '/api/v1/invitations',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Invite someone: a one-time link (admin)',
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: {
          201: Type.Object({ code: Type.String(), url: Type.String(), expires_at: Type.String() }),
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const made = await invitations.create(p.userId, req.body.role);
      await audit.record({
        actor: p.name,
        action: 'invitation.create',
        target: `invitation:${made.id}`,
        address: req.ip,
        detail: { role: req.body.role, expires_at: made.expires_at },
      });
      const url = `${deps.consoleOrigin}/#/join/${encodeURIComponent(made.code)}`;
      return reply.status(201).send({ code: made.code, url, expires_at: made.expires_at });
    },
  );

  app.post(
    '/api/v1/join',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Join with an invitation: choose a name and a password',
        body: Type.Object(
          {
            code: Type.String({ minLength: 1, maxLength: 100 }),
            name: Type.String({ minLength: 1, maxLength: 63 }),
            password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ user: ListedUser }) },
      },
    },
    async (req, reply) => {
      const wait = limits.retryAfterMs('', req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many wrong invitation codes from this address');
      const user = await invitations.join(req.body.code, req.body.name, req.body.password, req.ip);
      await audit.record({
        actor: user.name,
        action: 'user.join',
        target: `user:${user.id}`,
        address: req.ip,
        detail: { role: user.role },
      });
      return reply.status(201).send({ user });
    },
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: { admin: true } },
      schema: {
        summary: "Change a user's role (admin); the last admin stays one",
        params: UserId,
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: { 200: Type.Object({ user: ListedUser }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const user = await users.setRole(req.params.id, req.body.role);
      await audit.record({
        actor: p.name,
        action: 'user.role',
        target: `user:${user.id}`,
        address: req.ip,
        detail: { name: user.name, role: user.role },
      });
      return { user };
    },
  );

  app.post(
    '/api/v1/users/:id/reset-password',
    {
      config: { access: { admin: true } },
      schema: {
        summary: "Reset a user's password (admin): a one-time password they must change; ends their sessions",
        params: UserId,
        response: { 200: Type.Object({ password: Type.String() }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const password = await users.resetPassword(req.params.id);
      await audit.record({
        actor: p.name,
        action: 'user.password_reset',
        target: `user:${req.params.id}`,
        address: req.ip,
      });
      return { password };
    },
  );

  app.delete(
    '/api/v1/users/:id',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Delete a user with their sessions and grants (admin); never the last admin',
        params: UserId,
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const user = await users.remove(req.params.id);
      await audit.record({
        actor: p.name,
        action: 'user.delete',
        target: `user:${user.id}`,
        address: req.ip,
        detail: { name: user.name, role: user.role },
      });
      return reply.status(204).send(null);
    },
  );
}
