import { Type } from '@sinclair/typebox';
import { afterCursor, decodeCursor, Page, PageQuery, toPage } from '../../core/http/pagination.js';
import type { StoreContext } from '../context.js';
import type { StoreApp } from '../http/app.js';

const Entry = Type.Object({
  id: Type.String(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  address: Type.String(),
  detail: Type.Object({}, { additionalProperties: true }),
});

/** The audit log, newest first (admin). */
export async function auditRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.get(
    '/api/v1/audit',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Audit log entries, newest first (admin)',
        querystring: Type.Object({
          ...PageQuery.properties,
          actor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          action: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: "e.g. 'release.refused'" }),
          ),
        }),
        response: { 200: Page(Entry) },
      },
    },
    async (req) => {
      const { actor, action, limit, cursor } = req.query;
      const after = decodeCursor(cursor);
      let query = ctx.db.selectFrom('audit_log').selectAll();
      if (actor) query = query.where('actor', '=', actor);
      if (action) query = query.where('action', '=', action);
      if (after) query = query.where(afterCursor('at', 'id', '<', after));
      const rows = await query
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      return toPage(
        rows,
        limit,
        (r) => [r.at, r.id],
        (r) => ({ ...r, detail: parseDetail(r.detail) }),
      );
    },
  );
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
