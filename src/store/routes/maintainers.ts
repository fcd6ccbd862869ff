import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH } from '../../core/auth/passwords.js';
import { WarrenError } from '../../core/errors.js';
import { tooManyRequests } from '../../core/http/app.js';
import { keyId } from '../../core/release/keys.js';
import { bumpIndexGeneration, type StoreContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { StoreApp } from '../http/app.js';
import {
  ROTATION_FORMAT,
  ROTATION_MAX_RELEASES,
  type RotationStatement,
  verifyRotationStatement,
} from '../key-rotation.js';
import { releasesBoundTo, rotateKey } from '../releases/rotation.js';

const MaintainerJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  admin: Type.Boolean(),
  official: Type.Boolean(),
  key_id: Type.Union([Type.String(), Type.Null()]),
  public_key: Type.Union([Type.String(), Type.Null()]),
  used_bytes: Type.Integer(),
  quota_bytes: Type.Integer(),
});

const B64 = Type.String({ maxLength: 128 });

/** Registration, invitations, the official flag, one's profile, and key rotation. */
export async function maintainerRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  const json = (row: {
    id: string;
    name: string;
    is_admin: number;
    official: number;
    public_key: string | null;
    used_bytes: number | string;
  }) => ({
    id: row.id,
    name: row.name,
    admin: row.is_admin === 1,
    official: row.official === 1,
    key_id: row.public_key ? keyId(Buffer.from(row.public_key, 'base64')) : null,
    public_key: row.public_key,
    used_bytes: Number(row.used_bytes),
    quota_bytes: ctx.settings.quotaBytes,
  });

  app.post(
    '/api/v1/maintainers',
    {
      config: { access: { public: true } },
      schema: {
        summary: "Register a maintainer (with an admin's invitation code unless registration is open)",
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 40 }),
            password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
            public_key: Type.String({ minLength: 1, maxLength: 400, description: 'the warren-ed25519 line' }),
            invitation: Type.Optional(Type.String({ maxLength: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: MaintainerJson },
      },
    },
    async (req, reply) => {
      // Guessing invitation codes counts like guessing passwords.
      const wait = ctx.auth.loginRetryAfterMs(req.body.name, req.ip);
      if (wait > 0) throw tooManyRequests(reply, wait, 'too many failed registrations from this address');
      let row: Awaited<ReturnType<typeof ctx.accounts.register>>;
      try {
        row = await ctx.accounts.register({
          name: req.body.name,
          password: req.body.password,
          publicKey: req.body.public_key,
          ...(req.body.invitation ? { invitation: req.body.invitation } : {}),
        });
      } catch (err) {
        if (err instanceof WarrenError && err.code === 'INVITATION_INVALID') {
          ctx.auth.recordFailure(req.body.name, req.ip);
          await ctx.audit.record({
            actor: req.body.name,
            action: 'maintainer.register_refused',
            target: `maintainer:${req.body.name}`,
            address: req.ip,
            detail: { reason: err.code },
          });
        }
        throw err;
      }
      await ctx.audit.record({
        actor: row.name,
        action: 'maintainer.register',
        target: `maintainer:${row.name}`,
        address: req.ip,
        detail: { key_id: json(row).key_id, invited: req.body.invitation !== undefined },
      });
      return reply.status(201).send(json(row));
    },
  );

  app.get(
    '/api/v1/maintainers/me',
    {
      config: { access: {} },
      schema: { summary: 'Your account, key and quota', response: { 200: MaintainerJson } },
    },
    async (req) => json((await ctx.accounts.byId(principalOf(req).maintainerId))!),
  );

  app.post(
    '/api/v1/invitations',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Create a one-time invitation code (admin; shown once)',
        response: { 201: Type.Object({ code: Type.String(), expires_at: Type.String() }) },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const invitation = await ctx.accounts.invite(p.name);
      await ctx.audit.record({
        actor: p.name,
        action: 'invitation.create',
        target: 'invitation',
        address: req.ip,
        detail: { expires_at: invitation.expires_at },
      });
      return reply.status(201).send(invitation);
    },
  );

  app.put(
    '/api/v1/maintainers/:name/official',
    {
      config: { access: { admin: true } },
      schema: {
        summary: "Mark a maintainer as one of the store's own (their apps show as official), or not (admin)",
        params: Type.Object({ name: Type.String({ maxLength: 40 }) }),
        body: Type.Object({ official: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: MaintainerJson },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const row = await ctx.db.transaction().execute(async (trx) => {
        const updated = await ctx.accounts.setOfficial(req.params.name, req.body.official, trx);
        await bumpIndexGeneration(trx);
        await ctx.audit.record(
          {
            actor: p.name,
            action: 'maintainer.official',
            target: `maintainer:${req.params.name}`,
            address: req.ip,
            detail: { official: req.body.official },
          },
          trx,
        );
        return updated;
      });
      return json(row);
    },
  );

  app.get(
    '/api/v1/maintainers/me/releases',
    {
      config: { access: {} },
      schema: {
        summary: 'Every release bound to your current key (what a key rotation re-signs)',
        response: {
          200: Type.Object({
            maintainer: Type.String(),
            public_key: Type.Union([Type.String(), Type.Null()]),
            items: Type.Array(
              Type.Object({ app_id: Type.String(), version: Type.String(), sha256: Type.String() }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const me = (await ctx.accounts.byId(principalOf(req).maintainerId))!;
      const items = me.public_key ? await releasesBoundTo(ctx.db, me.id, me.public_key) : [];
      return { maintainer: me.name, public_key: me.public_key, items };
    },
  );

  app.post(
    '/api/v1/maintainers/me/key-rotation',
    {
      config: { access: {} },
      bodyLimit: 2 * 1024 * 1024,
      schema: {
        summary: 'Rotate your maintainer key with a statement signed by the old key (and the new one)',
        body: Type.Object(
          {
            format: Type.Literal(ROTATION_FORMAT),
            maintainer: Type.String({ maxLength: 40 }),
            old_key: B64,
            new_key: B64,
            issued_at: Type.String({ maxLength: 40 }),
            old_signature: B64,
            new_signature: B64,
            releases: Type.Array(
              Type.Object(
                {
                  app_id: Type.String({ maxLength: 64 }),
                  version: Type.String({ maxLength: 128 }),
                  sha256: Type.String({ maxLength: 64 }),
                  signature: B64,
                },
                { additionalProperties: false },
              ),
              { maxItems: ROTATION_MAX_RELEASES },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: MaintainerJson },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const statement = req.body as RotationStatement;
      try {
        const row = await rotateKey(ctx, p, statement, req.ip, verifyRotationStatement);
        return json(row);
      } catch (err) {
        await ctx.audit.recordQuietly({
          actor: p.name,
          action: 'maintainer.key_rotation_refused',
          target: `maintainer:${p.name}`,
          address: req.ip,
          detail: { reason: err instanceof WarrenError ? err.code : 'ERROR' },
        });
        throw err;
      }
    },
  );
}
