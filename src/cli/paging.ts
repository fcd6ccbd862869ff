import type { ManagerApi } from './manager-api.js';

/** Pages fetched at most by one listing (500 rows each). */
const MAX_PAGES = 100;

/** Every item of a paginated list endpoint (`{items, next_cursor}`), following the cursor. */
export async function fetchAllPages<T>(api: ManagerApi, path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const url = `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const answer: { items: T[]; next_cursor: string | null } = await api.call('GET', url);
    items.push(...answer.items);
    cursor = answer.next_cursor;
    if (!cursor) break;
  }
  return items;
}
