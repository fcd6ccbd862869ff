import type { Kysely, Selectable } from 'kysely';
import { newId, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { afterCursor } from '../../core/http/pagination.js';
import { DEFAULT_CLUSTER_ID } from '../db/migrations.js';
import type { ClustersTable, ComponentRole, ComponentsTable, Database } from '../db/schema.js';
import { type ClusterConfig, parseStoredConfig, parseStoredScopes } from './cluster-config.js';
import type { ClusterScopes } from './locality.js';

/** Most clusters an installation may have: the cache holds them all. */
export const MAX_CLUSTERS = 1_000;
/** Most schedulers and seed peers the registry holds. */
export const MAX_COMPONENTS = 10_000;
/** Rows per multi-row upsert (10 columns each: far below both databases' parameter limits). */
const UPSERT_BATCH = 200;

export interface Cluster {
  id: string;
  name: string;
  description: string;
  config: ClusterConfig;
  scopes: ClusterScopes;
  isDefault: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A registered scheduler or seed peer. */
export interface Component {
  id: string;
  role: ComponentRole;
  clusterId: string;
  hostname: string;
  ip: string;
  port: number;
  idc: string;
  location: string;
  registeredAt: string;
  lastSeenAt: string;
}

export function toCluster(row: Selectable<ClustersTable>): Cluster {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    config: parseStoredConfig(row.config),
    scopes: parseStoredScopes(row.scopes),
    isDefault: Number(row.is_default) === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toComponent(row: Selectable<ComponentsTable>): Component {
  return {
    id: row.id,
    role: row.role,
    clusterId: row.cluster_id,
    hostname: row.hostname,
    ip: row.ip,
    port: Number(row.port),
    idc: row.idc,
    location: row.location,
    registeredAt: row.registered_at,
    lastSeenAt: row.last_seen_at,
  };
}

/** The clusters and registry tables; every method may throw a database outage. */
export class ClusterStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** One page ordered by (name, id), after the cursor; `limit + 1` rows so the caller knows if more follow. */
  async page(limit: number, after?: { sortKey: string; id: string }): Promise<Cluster[]> {
    let query = this.db.selectFrom('clusters').selectAll();
    if (after) {
      query = query.where(afterCursor('name', 'id', '>', after));
    }
    const rows = await query
      .orderBy('name')
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return rows.map(toCluster);
  }

  async all(): Promise<Cluster[]> {
    const rows = await this.db
      .selectFrom('clusters')
      .selectAll()
      .orderBy('name')
      .limit(MAX_CLUSTERS)
      .execute();
    return rows.map(toCluster);
  }

  async get(id: string): Promise<Cluster | undefined> {
    const row = await this.db.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toCluster(row) : undefined;
  }

  async create(input: {
    name: string;
    description: string;
    config: ClusterConfig;
    scopes: ClusterScopes;
  }): Promise<Cluster> {
    const count = await this.db
      .selectFrom('clusters')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_CLUSTERS) {
      throw new WarrenError(
        'TOO_MANY_CLUSTERS',
        `an installation holds at most ${MAX_CLUSTERS} clusters`,
        409,
      );
    }
    await this.refuseTakenName(input.name);
    const now = nowIso();
    const row = {
      id: newId('cls'),
      name: input.name,
      description: input.description,
      config: JSON.stringify(input.config),
      scopes: JSON.stringify(input.scopes),
      is_default: 0,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('clusters').values(row).execute().catch(nameTaken(input.name));
    return toCluster(row);
  }

  /** Applies the given fields; undefined when there is no such cluster. */
  async update(
    id: string,
    patch: { name?: string; description?: string; config?: ClusterConfig; scopes?: ClusterScopes },
  ): Promise<Cluster | undefined> {
    if (patch.name !== undefined) await this.refuseTakenName(patch.name, id);
    const result = await this.db
      .updateTable('clusters')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.config !== undefined ? { config: JSON.stringify(patch.config) } : {}),
        ...(patch.scopes !== undefined ? { scopes: JSON.stringify(patch.scopes) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .executeTakeFirst()
      .catch(nameTaken(patch.name ?? ''));
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(id);
  }

  /**
   * Deletes the cluster and its (inactive) registry rows in one transaction;
   * false when it did not exist. The caller checks for active components.
   */
  async delete(id: string): Promise<boolean> {
    if (id === DEFAULT_CLUSTER_ID) {
      throw new WarrenError('CLUSTER_IS_DEFAULT', 'the default cluster cannot be deleted', 409);
    }
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('components').where('cluster_id', '=', id).execute();
      const result = await tx
        .deleteFrom('clusters')
        .where('id', '=', id)
        .where('is_default', '=', 0)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async components(clusterId?: string): Promise<Component[]> {
    let query = this.db.selectFrom('components').selectAll();
    if (clusterId !== undefined) query = query.where('cluster_id', '=', clusterId);
    const rows = await query.orderBy('id').limit(MAX_COMPONENTS).execute();
    return rows.map(toComponent);
  }

  /** Inserts or refreshes registrations (registered_at is kept from the first one). */
  async upsertComponents(components: readonly Component[]): Promise<void> {
    for (let i = 0; i < components.length; i += UPSERT_BATCH) {
      const rows = components.slice(i, i + UPSERT_BATCH).map((c) => ({
        id: c.id,
        role: c.role,
        cluster_id: c.clusterId,
        hostname: c.hostname,
        ip: c.ip,
        port: c.port,
        idc: c.idc,
        location: c.location,
        registered_at: c.registeredAt,
        last_seen_at: c.lastSeenAt,
      }));
      await this.db
        .insertInto('components')
        .values(rows)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            role: eb.ref('excluded.role'),
            cluster_id: eb.ref('excluded.cluster_id'),
            hostname: eb.ref('excluded.hostname'),
            ip: eb.ref('excluded.ip'),
            port: eb.ref('excluded.port'),
            idc: eb.ref('excluded.idc'),
            location: eb.ref('excluded.location'),
            last_seen_at: eb.ref('excluded.last_seen_at'),
          })),
        )
        .execute();
    }
  }

  async blockedHosts(limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('blocklist').select('host').orderBy('host').limit(limit).execute();
    return rows.map((r) => r.host);
  }

  private async refuseTakenName(name: string, exceptId?: string): Promise<void> {
    const taken = await this.db
      .selectFrom('clusters')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst();
    if (taken && taken.id !== exceptId) throw nameTakenError(name);
  }
}

function nameTakenError(name: string): WarrenError {
  return new WarrenError('CLUSTER_EXISTS', `a cluster named '${name}' already exists`, 409);
}

/** A unique-index violation (a concurrent create won the race) becomes 409, anything else passes. */
function nameTaken(name: string) {
  return (err: unknown): never => {
    const e = err as { code?: string; message?: string };
    if (e.code === '23505' || /UNIQUE constraint failed/i.test(e.message ?? '')) throw nameTakenError(name);
    throw err;
  };
}
