import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { WarrenError } from '../../core/errors.js';
import { afterCursor, decodeCursor, Page, PageQuery, toPage } from '../../core/http/pagination.js';
import { keyId } from '../../core/release/keys.js';
import { compareSemver } from '../../core/release/semver.js';
import type { StoreContext } from '../context.js';
import type { StoreApp } from '../http/app.js';

const AppSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  maintainer: Type.String(),
  official: Type.Boolean(),
  /** Highest version by semver that is not yanked; null when every version is. */
  latest_version: Type.Union([Type.String(), Type.Null()]),
  updated_at: Type.String(),
});

const Version = Type.Object({
  version: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  url: Type.String(),
  signature_url: Type.String(),
  published_at: Type.String(),
  yanked: Type.Boolean(),
  yanked_at: Type.Union([Type.String(), Type.Null()]),
});

/** Public search, listing and app pages. */
export async function appRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.get(
    '/api/v1/apps',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Search and list apps by id (official or third-party), paginated',
        querystring: Type.Object({
          ...PageQuery.properties,
          q: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: 'in id, name or description' }),
          ),
          official: Type.Optional(
            Type.Boolean({ description: 'true: official apps only; false: third-party only' }),
          ),
        }),
        response: { 200: Page(AppSummary) },
      },
    },
    async (req) => {
      const { q, official, limit, cursor } = req.query;
      const after = decodeCursor(cursor);
      let query = ctx.db
        .selectFrom('apps')
        .innerJoin('maintainers', 'maintainers.id', 'apps.maintainer_id')
        .select([
          'apps.id',
          'apps.name',
          'apps.description',
          'apps.updated_at',
          'maintainers.name as maintainer',
          'maintainers.official',
        ]);
      if (official !== undefined) query = query.where('maintainers.official', '=', official ? 1 : 0);
      if (q !== undefined) {
        const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        query = query.where((eb) =>
          eb.or(
            ['apps.id', 'apps.name', 'apps.description'].map(
              (column) => sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`,
            ),
          ),
        );
      }
      if (after) query = query.where(afterCursor('apps.id', 'apps.id', '>', after));
      const rows = await query
        .orderBy('apps.id')
        .limit(limit + 1)
        .execute();
      const latest = await latestVersions(
        ctx,
        rows.slice(0, limit).map((r) => r.id),
      );
      return toPage(
        rows,
        limit,
        (r) => [r.id, r.id],
        (r) => ({
          id: r.id,
          name: r.name,
          description: r.description,
          maintainer: r.maintainer,
          official: r.official === 1,
          latest_version: latest.get(r.id) ?? null,
          updated_at: r.updated_at,
        }),
      );
    },
  );

  app.get(
    '/api/v1/apps/:id',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'An app: its maintainer and key, official flag, versions newest first (yanked marked)',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: {
          200: Type.Object({
            ...AppSummary.properties,
            maintainer_key_id: Type.String(),
            maintainer_key: Type.String(),
            versions: Type.Array(Version),
          }),
        },
      },
    },
    async (req) => {
      const row = await ctx.db
        .selectFrom('apps')
        .innerJoin('maintainers', 'maintainers.id', 'apps.maintainer_id')
        .select([
          'apps.id',
          'apps.name',
          'apps.description',
          'apps.updated_at',
          'apps.maintainer_key',
          'maintainers.name as maintainer',
          'maintainers.official',
        ])
        .where('apps.id', '=', req.params.id)
        .executeTakeFirst();
      if (!row) throw new WarrenError('NOT_FOUND', `no app '${req.params.id}'`, 404);
      const versions = await ctx.db
        .selectFrom('releases')
        .select(['version', 'sha256', 'size', 'published_at', 'yanked_at'])
        .where('app_id', '=', row.id)
        .execute();
      versions.sort((a, b) => compareSemver(b.version, a.version));
      return {
        id: row.id,
        name: row.name,
        description: row.description,
        maintainer: row.maintainer,
        official: row.official === 1,
        latest_version: versions.find((v) => !v.yanked_at)?.version ?? null,
        updated_at: row.updated_at,
        maintainer_key: row.maintainer_key,
        maintainer_key_id: keyId(Buffer.from(row.maintainer_key, 'base64')),
        versions: versions.map((v) => ({
          version: v.version,
          sha256: v.sha256,
          size: v.size,
          url: `/releases/sha256:${v.sha256}`,
          signature_url: `/releases/sha256:${v.sha256}.sig`,
          published_at: v.published_at,
          yanked: v.yanked_at !== null,
          yanked_at: v.yanked_at,
        })),
      };
    },
  );
}

/** The highest non-yanked version (by semver) of each app. */
async function latestVersions(ctx: StoreContext, appIds: string[]): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  if (appIds.length === 0) return latest;
  const rows = await ctx.db
    .selectFrom('releases')
    .select(['app_id', 'version'])
    .where('app_id', 'in', appIds)
    .where('yanked_at', 'is', null)
    .execute();
  for (const r of rows) {
    const best = latest.get(r.app_id);
    if (!best || compareSemver(r.version, best) > 0) latest.set(r.app_id, r.version);
  }
  return latest;
}
