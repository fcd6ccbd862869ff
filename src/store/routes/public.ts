import { createReadStream } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { WarrenError } from '../../core/errors.js';
import type { StoreContext } from '../context.js';
import type { StoreApp } from '../http/app.js';
import { parseRange } from '../releases/range.js';

const DIGEST_PATH = /^sha256:([0-9a-f]{64})(\.sig)?$/;

/**
 * What instances and the P2P network fetch: the signed index, the store's
 * public key, and releases by digest (immutable: the URL names the bytes, so
 * any cache or peer may keep them forever and a client checks them against
 * the digest it already knows).
 */
export async function publicRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.get('/healthz', { config: { access: { public: true } }, schema: { hide: true } }, async () => ({
    ok: true,
  }));

  app.get(
    '/api/v1/store-key',
    {
      config: { access: { public: true } },
      schema: {
        summary: "The store's Ed25519 public key, which signs the index (pin it out of band)",
        response: {
          200: Type.Object({ public_key: Type.String(), key_id: Type.String(), line: Type.String() }),
        },
      },
    },
    async () => ({
      public_key: ctx.key.publicKey.toString('base64'),
      key_id: ctx.key.keyId,
      line: ctx.key.line,
    }),
  );

  app.get(
    '/api/v1/index',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'The signed index: {signed, signature} (core/release/store-index.ts)',
      },
    },
    async (_req, reply) => {
      const index = await ctx.index.current();
      reply
        .header('content-type', 'application/json')
        .header('cache-control', 'no-cache')
        .header('x-warren-index-serial', String(index.serial));
      return reply.send(index.text);
    },
  );

  app.get(
    '/releases/:digest',
    {
      config: {
        access: { public: true },
        rateLimit: {
          max: ctx.settings.rateLimit.downloadsPerMinute,
          timeWindow: 60_000,
          keyGenerator: (req) => `download:${req.ip}`,
        },
      },
      schema: {
        summary:
          'A release zip by digest (sha256:<hex>) or its signature file (sha256:<hex>.sig); Range supported',
        params: Type.Object({ digest: Type.String({ maxLength: 80 }) }),
      },
    },
    async (req, reply) => {
      const match = DIGEST_PATH.exec(req.params.digest);
      if (!match) throw new WarrenError('NOT_FOUND', 'releases are named sha256:<64 hex digits>', 404);
      const sha256 = match[1]!;
      const row = await ctx.db
        .selectFrom('releases')
        .select(['signature', 'size'])
        .where('sha256', '=', sha256)
        .executeTakeFirst();
      if (!row) throw new WarrenError('NOT_FOUND', `no release with SHA-256 ${sha256}`, 404);
      const etag = `"sha256:${sha256}${match[2] ?? ''}"`;
      reply
        .header('etag', etag)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff');
      if (req.headers['if-none-match'] === etag) return reply.status(304).send();
      if (match[2]) {
        return reply.header('content-type', 'application/json').send(row.signature);
      }
      const size = row.size;
      reply.header('content-type', 'application/zip').header('accept-ranges', 'bytes');
      const range = parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${size}`);
        throw new WarrenError('RANGE_NOT_SATISFIABLE', `the release has ${size} bytes`, 416);
      }
      const path = ctx.blobs.pathOf(sha256);
      if (range) {
        reply
          .status(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
          .header('content-length', String(range.end - range.start + 1));
        return reply.send(createReadStream(path, { start: range.start, end: range.end }));
      }
      reply.header('content-length', String(size));
      return reply.send(createReadStream(path));
    },
  );
}
