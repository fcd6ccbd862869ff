import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { type SqlBool, sql } from 'kysely';
import { WarrenError } from '../errors.js';

/** `?limit=&cursor=` on every list; the cursor is opaque to clients. */
export const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
});
export type PageQuery = Static<typeof PageQuery>;

/** `{items, next_cursor}`; next_cursor is null on the last page. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });

/**
 * Lists are ordered by (sort key, id) and the cursor is the last row's pair,
 * so pages stay stable while rows are added. Encode/decode keep it opaque.
 */
export function encodeCursor(sortKey: string, id: string): string {
  return Buffer.from(JSON.stringify([sortKey, id])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): { sortKey: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return { sortKey: value[0], id: value[1] };
    }
  } catch {}
  throw new WarrenError('BAD_REQUEST', "query parameter 'cursor' is not a cursor this API returned", 400);
}

/** Builds the page from `limit + 1` fetched rows. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  key: (row: R) => [string, string],
  map: (row: R) => T,
): { items: T[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page.at(-1);
  return {
    items: page.map(map),
    next_cursor: more && last ? encodeCursor(...key(last)) : null,
  };
}

/**
 * The rows after the cursor's row in (sort column, id column) order: `>` for
 * an ascending list, `<` for newest first. Column names are the caller's own
 * constants, never input.
 */
export function afterCursor(
  sortColumn: string,
  idColumn: string,
  op: '<' | '>',
  after: { sortKey: string; id: string },
) {
  const [sort, id, cmp] = [sql.ref(sortColumn), sql.ref(idColumn), sql.raw(op)];
  return sql<SqlBool>`(${sort} ${cmp} ${after.sortKey} or (${sort} = ${after.sortKey} and ${id} ${cmp} ${after.id}))`;
}
