import { Type } from '@sinclair/typebox';
import { Page, PageQuery } from '../../core/http/pagination.js';
import { ALL_TOKEN_SCOPES } from '../auth/token-policy.js';
import type { TokenView } from '../auth/tokens.js';
import type { ManagerContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

const Scope = Type.Union(ALL_TOKEN_SCOPES.map((s) => Type.Literal(s)));
const Nullable = Type.Union([Type.String(), Type.Null()]);
const TokenJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  owner: Type.String(),
  scopes: Type.Array(Scope),
  created_at: Type.String(),
  expires_at: Type.String(),
  last_used_at: Nullable,
  revoked_at: Nullable,
  previous_valid_until: Nullable,
});
const WithSecret = Type.Object({
  token: Type.String({ description: 'the secret: shown this once, stored only as a hash' }),
  ...TokenJson.properties,
});
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/**
 * Personal access tokens and join tokens. Managed with a login session only:
 * a token cannot mint, rotate or list tokens, so a leaked token cannot
 * outlive its own expiry or revocation.
 */
export async function tokenRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.post(
    '/api/v1/tokens',
    {
      config: { access: { scope: 'read', session: true } },
      schema: {
        summary:
          "Create a token; 'enroll' alone makes a join token (root only, at most 7 days, default 24 h)",
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            scopes: Type.Array(Type.String({ maxLength: 16 }), { minItems: 1, maxItems: 8 }),
            expires_in: Type.Optional(Type.String({ maxLength: 32, description: "like '30d', '12h'" })),
            expires_at: Type.Optional(Type.String({ maxLength: 40, description: 'ISO-8601' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: WithSecret },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const { token, view } = await ctx.auth.tokens.create(principal, req.body);
      await audit(ctx, principal.userName, 'token.create', view, req.ip);
      return reply.status(201).send({ token, ...view });
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { access: { scope: 'read', session: true } },
      schema: {
        summary: "List one's tokens (root: everyone's with all=true); never secrets",
        querystring: Type.Intersect([PageQuery, Type.Object({ all: Type.Boolean({ default: false }) })]),
        response: { 200: Page(TokenJson) },
      },
    },
    async (req) => ctx.auth.tokens.list(principalOf(req), req.query),
  );

  app.delete(
    '/api/v1/tokens/:id',
    {
      config: { access: { scope: 'read', session: true } },
      schema: {
        summary: "Revoke a token (one's own; root: anyone's)",
        params: IdParams,
        response: { 200: TokenJson },
      },
    },
    async (req) => {
      const principal = principalOf(req);
      const view = await ctx.auth.tokens.revoke(principal, req.params.id);
      await audit(ctx, principal.userName, 'token.revoke', view, req.ip);
      return view;
    },
  );

  app.post(
    '/api/v1/tokens/:id/rotate',
    {
      config: { access: { scope: 'read', session: true } },
      schema: {
        summary: 'New secret for one of your tokens; the old one works for auth.rotationGrace more',
        params: IdParams,
        response: { 200: WithSecret },
      },
    },
    async (req) => {
      const principal = principalOf(req);
      const { token, view } = await ctx.auth.tokens.rotate(principal, req.params.id);
      await audit(ctx, principal.userName, 'token.rotate', view, req.ip);
      return { token, ...view };
    },
  );
}

function audit(ctx: ManagerContext, actor: string, action: string, view: TokenView, address: string) {
  return ctx.audit.record({
    actor,
    action,
    target: `token:${view.id}`,
    address,
    detail: { name: view.name, owner: view.owner, scopes: view.scopes, expires_at: view.expires_at },
  });
}
