import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { WarrenError } from '../../core/errors.js';
import type { StoreContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { StoreApp } from '../http/app.js';
import { type PublishContext, publishRelease } from '../releases/publish.js';
import { yankRelease } from '../releases/yank.js';

/** Header carrying the detached signature file, base64. */
export const SIGNATURE_HEADER = 'x-warren-signature';

/** Upload (publish) and yank. */
export async function releaseRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.post(
    '/api/v1/releases',
    {
      config: {
        access: {},
        rateLimit: {
          max: ctx.settings.rateLimit.uploadsPerMinute,
          timeWindow: 60_000,
          keyGenerator: (req) => `upload:${req.ip}`,
        },
      },
      schema: {
        summary:
          'Publish a release: the zip as the body (application/zip), its signature file base64 in x-warren-signature',
        headers: Type.Object({ [SIGNATURE_HEADER]: Type.Optional(Type.String({ maxLength: 8192 })) }),
        response: {
          201: Type.Object({
            app_id: Type.String(),
            version: Type.String(),
            sha256: Type.String(),
            size: Type.Integer(),
            url: Type.String(),
            first_version: Type.Boolean(),
          }),
        },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      if (!req.headers['content-type']?.startsWith('application/zip')) {
        throw new WarrenError(
          'BAD_REQUEST',
          'the body must be the release zip (content-type application/zip)',
          415,
        );
      }
      const declared = req.headers['content-length'];
      const known: PublishContext = {};
      try {
        const published = await publishRelease(
          ctx,
          {
            principal: p,
            body: req.body as Readable,
            signatureHeader: req.headers[SIGNATURE_HEADER] as string | undefined,
            declaredBytes: declared === undefined ? undefined : Number(declared),
            address: req.ip,
          },
          known,
        );
        return reply.status(201).send(published);
      } catch (err) {
        await ctx.audit.recordQuietly({
          actor: p.name,
          action: 'release.refused',
          target: known.appId ? `app:${known.appId}@${known.version ?? '?'}` : 'release',
          address: req.ip,
          detail: {
            reason: err instanceof WarrenError ? err.code : 'ERROR',
            message: err instanceof Error ? err.message.slice(0, 500) : String(err),
            ...(known.sha256 ? { sha256: known.sha256 } : {}),
          },
        });
        // Bytes the client is still sending are not read: close the connection after answering.
        if (err instanceof WarrenError && err.status === 413) reply.header('connection', 'close');
        throw err;
      }
    },
  );

  app.post(
    '/api/v1/apps/:id/versions/:version/yank',
    {
      config: { access: {} },
      schema: {
        summary: 'Yank a version: kept and downloadable, marked in the index, not offered for new installs',
        params: Type.Object({ id: Type.String({ maxLength: 64 }), version: Type.String({ maxLength: 128 }) }),
        body: Type.Optional(
          Type.Object(
            { reason: Type.Optional(Type.String({ maxLength: 500 })) },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Object({ app_id: Type.String(), version: Type.String(), yanked_at: Type.String() }),
        },
      },
    },
    async (req) =>
      yankRelease(ctx, principalOf(req), req.params.id, req.params.version, req.ip, req.body?.reason ?? ''),
  );
}
