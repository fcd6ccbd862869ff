import type { Kysely, Selectable } from 'kysely';
import { newId, nowIso } from '../../core/db/database.js';
import { afterCursor, decodeCursor, type PageQuery, toPage } from '../../core/http/pagination.js';
import type { Database, JobState, JobsTable, JobType } from '../db/schema.js';
import { type JobArgs, redactArgs } from './job-args.js';
import type { JobResult } from './job-logic.js';

export type JobRow = Selectable<JobsTable>;

/** A job as the API shows it (origin header values redacted). */
export interface JobView {
  id: string;
  type: JobType;
  state: JobState;
  cluster_id: string;
  progress: number;
  args: JobArgs;
  results: JobResult[];
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export function jobView(row: JobRow): JobView {
  return {
    id: row.id,
    type: row.type,
    state: row.state,
    cluster_id: row.cluster_id,
    progress: row.progress,
    args: redactArgs(JSON.parse(row.args) as JobArgs),
    results: JSON.parse(row.result) as JobResult[],
    error: row.error,
    created_by: row.created_by,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

/**
 * The job queue is the `jobs` table. Every state change is one UPDATE guarded
 * by the state it leaves (and, once running, by the runner that owns the
 * job), so several manager replicas on one PostgreSQL never run a job twice
 * and never overwrite each other's outcome.
 */
export class JobStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Pending jobs, counted up to `limit` only: the queue-limit check then costs
   * at most `limit` index entries whatever the backlog.
   */
  async countPending(limit: number): Promise<number> {
    const row = await this.db
      .selectFrom((eb) =>
        eb.selectFrom('jobs').select('id').where('state', '=', 'pending').limit(limit).as('pending'),
      )
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insert(
    job: { type: JobType; clusterId: string; args: JobArgs; createdBy: string },
    db: Kysely<Database> = this.db,
  ): Promise<JobRow> {
    const row: JobRow = {
      id: newId('job'),
      type: job.type,
      state: 'pending',
      cluster_id: job.clusterId,
      args: JSON.stringify(job.args),
      result: '[]',
      progress: 0,
      error: null,
      created_by: job.createdBy,
      created_at: nowIso(),
      started_at: null,
      finished_at: null,
      runner_id: null,
      heartbeat_at: null,
    };
    await db.insertInto('jobs').values(row).execute();
    return row;
  }

  get(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Newest first, optionally of one state and type. */
  async list(page: PageQuery, filter: { state?: JobState; type?: JobType }) {
    const after = decodeCursor(page.cursor);
    let query = this.db.selectFrom('jobs').selectAll();
    if (filter.state) query = query.where('state', '=', filter.state);
    if (filter.type) query = query.where('type', '=', filter.type);
    if (after) {
      query = query.where(afterCursor('created_at', 'id', '<', after));
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute();
    return toPage(rows, page.limit, (r) => [r.created_at, r.id], jobView);
  }

  /** Oldest pending jobs first. */
  async pendingIds(limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select('id')
      .where('state', '=', 'pending')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Takes a pending job for `runnerId`: the row, or undefined if another runner was first. */
  async claim(id: string, runnerId: string): Promise<JobRow | undefined> {
    const now = nowIso();
    const updated = await this.db
      .updateTable('jobs')
      .set({ state: 'running', runner_id: runnerId, started_at: now, heartbeat_at: now })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) return undefined;
    return this.get(id);
  }

  /** Writes progress of a job this runner still owns. */
  async saveProgress(id: string, runnerId: string, progress: number, results: JobResult[]): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ progress, result: JSON.stringify(results), heartbeat_at: nowIso() })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('runner_id', '=', runnerId)
      .execute();
  }

  /** Ends a job this runner owns; false if it no longer did (failed meanwhile as orphaned). */
  async finish(
    id: string,
    runnerId: string,
    outcome: { state: 'succeeded' | 'failed'; error: string | null },
    progress: number,
    results: JobResult[],
  ): Promise<boolean> {
    const updated = await this.db
      .updateTable('jobs')
      .set({
        state: outcome.state,
        error: outcome.error,
        progress,
        result: JSON.stringify(results),
        finished_at: nowIso(),
      })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('runner_id', '=', runnerId)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** "Still running these": refreshes the heartbeat of every job this runner owns. */
  async heartbeat(runnerId: string): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ heartbeat_at: nowIso() })
      .where('state', '=', 'running')
      .where('runner_id', '=', runnerId)
      .execute();
  }

  /**
   * Fails running jobs whose manager is gone: any whose heartbeat is older
   * than `staleBefore` and, at start, those of an earlier start of this same
   * manager instance (`instance#…`: it just restarted, nobody runs them).
   * Returns how many.
   */
  async failOrphans(staleBefore: string, instance?: string): Promise<number> {
    const updated = await this.db
      .updateTable('jobs')
      .set({ state: 'failed', finished_at: nowIso(), error: ORPHAN_ERROR })
      .where('state', '=', 'running')
      .where((eb) =>
        eb.or([
          eb('heartbeat_at', '<', staleBefore),
          ...(instance ? [eb('runner_id', 'like', `${instance}#%`)] : []),
        ]),
      )
      .executeTakeFirst();
    return Number(updated.numUpdatedRows);
  }
}

/** Why a job left running by a manager that went away failed. */
export const ORPHAN_ERROR =
  'the manager running this job stopped (crashed or was restarted) before it finished; create the job again';
