import type { Kysely } from 'kysely';
import { compareSemver } from '../../core/release/semver.js';
import { type IndexApp, signIndex } from '../../core/release/store-index.js';
import type { StoreDatabase } from '../db/schema.js';
import type { StoreKey } from './store-key.js';

/** What `GET /api/v1/index` serves. */
export interface SignedIndex {
  /** The envelope `{signed, signature}` as JSON text (core/release/store-index.ts). */
  text: string;
  serial: number;
  issuedAt: number;
  expiresAt: number;
  /** The change counter the index was built from. */
  generation: number;
}

/**
 * The signed index of every app's versions (digest, maintainer key, yanked
 * flag). Every change (upload, yank, key rotation, official flag) bumps
 * `index_state.generation` in its own transaction; the next request for the
 * index then signs a new one under the next serial. An index is also
 * re-signed (new serial, new expiry) once half its life has passed, so a live
 * store never serves one near expiry. Serials live in the database and only
 * grow, across restarts too: a serial is never signed twice.
 */
export class IndexService {
  private cached: SignedIndex | undefined;
  private building: Promise<SignedIndex> | undefined;

  constructor(
    private readonly db: Kysely<StoreDatabase>,
    private readonly key: StoreKey,
    private readonly expiryMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async current(): Promise<SignedIndex> {
    const state = await this.db
      .selectFrom('index_state')
      .select(['generation'])
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    const cached = this.cached;
    if (
      cached &&
      cached.generation === Number(state.generation) &&
      this.now() < cached.issuedAt + this.expiryMs / 2
    ) {
      return cached;
    }
    this.building ??= this.build().finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  private async build(): Promise<SignedIndex> {
    const { serial, generation, apps } = await this.db.transaction().execute(async (trx) => {
      const bumped = await trx
        .updateTable('index_state')
        .set((eb) => ({ serial: eb('serial', '+', 1) }))
        .where('id', '=', 1)
        .returning(['serial', 'generation'])
        .executeTakeFirstOrThrow();
      const rows = await trx
        .selectFrom('releases')
        .innerJoin('apps', 'apps.id', 'releases.app_id')
        .innerJoin('maintainers', 'maintainers.id', 'apps.maintainer_id')
        .select([
          'apps.id',
          'apps.maintainer_key',
          'maintainers.official',
          'releases.version',
          'releases.sha256',
          'releases.yanked_at',
        ])
        .orderBy('apps.id')
        .execute();
      return { serial: Number(bumped.serial), generation: Number(bumped.generation), apps: group(rows) };
    });
    const issuedAt = this.now();
    const expiresAt = issuedAt + this.expiryMs;
    const text = signIndex(
      { serial, issuedAt: new Date(issuedAt), expiresAt: new Date(expiresAt), apps },
      this.key.privateKey,
    );
    const built = { text, serial, issuedAt, expiresAt, generation };
    // Concurrent builders (other requests, other replicas) may finish out of order: keep the newest.
    if (!this.cached || this.cached.serial < serial) this.cached = built;
    return this.cached;
  }
}

interface Row {
  id: string;
  maintainer_key: string;
  official: number;
  version: string;
  sha256: string;
  yanked_at: string | null;
}

/** Rows (ordered by app) to index apps, versions newest first. */
function group(rows: Row[]): IndexApp[] {
  const apps: IndexApp[] = [];
  for (const row of rows) {
    let app = apps.at(-1);
    if (!app || app.id !== row.id) {
      app = { id: row.id, maintainer_key: row.maintainer_key, official: row.official === 1, versions: [] };
      apps.push(app);
    }
    app.versions.push({ version: row.version, sha256: row.sha256, yanked: row.yanked_at !== null });
  }
  for (const app of apps) app.versions.sort((a, b) => compareSemver(b.version, a.version));
  return apps;
}
