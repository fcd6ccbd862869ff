import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import { Page, PageQuery } from '../../core/http/pagination.js';
import { USER_NAME_PATTERN } from '../auth/users.js';
import type { ManagerContext } from '../context.js';
import { principalOf, TOKEN_SCOPES } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

const Role = Type.Union([Type.Literal('root'), Type.Literal('guest')]);
const UserJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Role,
  must_change_password: Type.Boolean(),
  created_at: Type.String(),
  password_changed_at: Type.String(),
});
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * User management (root only) and "who am I" (anyone signed in). The roles:
 * `root` may do everything, `guest` only read. Creating, changing and
 * deleting users needs a login session: no token, whatever its scopes, can.
 */
export async function userRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.get(
    '/api/v1/users/me',
    {
      config: { access: { scope: 'read', allowedBeforePasswordChange: true } },
      schema: {
        summary: 'The user and credential making this request',
        response: {
          200: Type.Object({
            id: Type.String(),
            name: Type.String(),
            role: Role,
            must_change_password: Type.Boolean(),
            credential: Type.Object({
              kind: Type.Union([Type.Literal('session'), Type.Literal('token')]),
              id: Type.String(),
              scopes: Type.Array(Type.String()),
            }),
          }),
        },
      },
    },
    // Answered from the verified principal alone, so it keeps working while
    // the database is down (the credential check falls back to its cache).
    async (req) => {
      const p = principalOf(req);
      return {
        id: p.userId,
        name: p.userName,
        role: p.role,
        must_change_password: p.mustChangePassword === true,
        credential: {
          kind: p.kind,
          id: p.credentialId,
          scopes: TOKEN_SCOPES.filter((s) => p.scopes.has(s)),
        },
      };
    },
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: { scope: 'read', root: true, write: true, session: true } },
      schema: {
        summary: 'Create a user',
        body: Type.Object(
          {
            name: Type.String({ pattern: USER_NAME_PATTERN }),
            role: Role,
            password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
          },
          { additionalProperties: false },
        ),
        response: { 201: UserJson },
      },
    },
    async (req, reply) => {
      const user = await ctx.auth.users.create(req.body);
      await ctx.audit.record({
        actor: principalOf(req).userName,
        action: 'user.create',
        target: `user:${user.name}`,
        address: req.ip,
        detail: { id: user.id, role: user.role },
      });
      return reply.status(201).send(user);
    },
  );

  app.get(
    '/api/v1/users',
    {
      config: { access: { scope: 'read', root: true } },
      schema: { summary: 'List users by name', querystring: PageQuery, response: { 200: Page(UserJson) } },
    },
    async (req) => ctx.auth.users.list(req.query),
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: { scope: 'read', root: true, write: true, session: true } },
      schema: {
        summary: "Change a user's role (the last root cannot be demoted)",
        params: IdParams,
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: { 200: UserJson },
      },
    },
    async (req) => {
      const { before, after } = await ctx.auth.users.setRole(req.params.id, req.body.role);
      await ctx.audit.record({
        actor: principalOf(req).userName,
        action: 'user.set_role',
        target: `user:${after.name}`,
        address: req.ip,
        detail: { id: after.id, from: before.role, to: after.role },
      });
      return after;
    },
  );

  app.delete(
    '/api/v1/users/:id',
    {
      config: { access: { scope: 'read', root: true, write: true, session: true } },
      schema: {
        summary: 'Delete a user with their sessions and tokens (not the last root)',
        params: IdParams,
        response: { 200: UserJson },
      },
    },
    async (req) => {
      const user = await ctx.auth.users.remove(req.params.id);
      await ctx.audit.record({
        actor: principalOf(req).userName,
        action: 'user.delete',
        target: `user:${user.name}`,
        address: req.ip,
        detail: { id: user.id, role: user.role },
      });
      return user;
    },
  );
}
