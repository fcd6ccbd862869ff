import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { nowIso } from '../../core/db/database.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { TlsMaterial } from '../../core/tls.js';
import {
  CommandState,
  type HostResult,
  JobKind,
  JobScope,
  type RunJobRequest,
  RunJobRequestSchema,
} from '../../protocol/gen/scheduler_pb.js';
import type { JobType } from '../db/schema.js';
import { type JobArgs, type JobTask, jobTasks, type PreheatArgs, type PreheatScope } from './job-args.js';
import { type HostState, JobProgress, type JobResult, pickHosts } from './job-logic.js';
import type { JobRow, JobStore } from './job-store.js';
import { connectScheduler, type SchedulerAdmin } from './scheduler-admin.js';

/** A running job's heartbeat older than this means its manager is gone. */
export const STALE_AFTER_MS = 30_000;
/** Progress is written at most this often while results stream in. */
const PROGRESS_WRITE_MS = 500;
/** Bound on asking a scheduler for its hosts (count/percentage preheats). */
const LIST_HOSTS_TIMEOUT_MS = 10_000;
/** Longest a host may take to answer a find or delete. */
const QUICK_COMMAND_TIMEOUT_MS = 60_000;
/** Tries at writing a job's outcome (1 + 2 + 4 s apart: within the stale-heartbeat window). */
const FINISH_ATTEMPTS = 4;
/** Margin for the scheduler to report timeouts before our own deadline cuts its stream. */
const DEADLINE_MARGIN_MS = 2_000;

export interface JobRunnerOptions {
  store: JobStore;
  log: Logger;
  /** The manager's certificate: its client identity towards schedulers. */
  tls: TlsMaterial;
  concurrency: number;
  timeoutMs: number;
  /** Stable per manager replica (its data folder): a restart recognizes its own orphans. */
  instance: string;
  /** The active schedulers of a cluster, with their RPC addresses. */
  schedulers(clusterId: string): Array<{ id: string; address: string }>;
  pollMs?: number;
  heartbeatMs?: number;
}

type Connection = { id: string; admin: SchedulerAdmin };

const KINDS: Record<JobType, JobKind> = {
  preheat: JobKind.PREHEAT,
  find_task: JobKind.FIND_TASK,
  delete_task: JobKind.DELETE_TASK,
};
const SCOPES: Record<PreheatScope, JobScope> = {
  single_seed_peer: JobScope.SINGLE_SEED_PEER,
  all_seed_peers: JobScope.ALL_SEED_PEERS,
  all_peers: JobScope.ALL_PEERS,
};

/**
 * Runs queued jobs: claims pending ones (at most `concurrency` at once; a
 * claim is an UPDATE guarded by the pending state, so replicas never run a
 * job twice), carries each out on every active scheduler of its cluster, and
 * writes progress as results stream in. A job past `timeoutMs` fails; jobs a
 * dead manager left running are failed at start and by the heartbeat sweep.
 */
export class JobRunner {
  readonly runnerId: string;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: JobRunnerOptions) {
    this.runnerId = `${o.instance}#${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  }

  get active(): number {
    return this.running.size;
  }

  async start(): Promise<void> {
    try {
      const failed = await this.o.store.failOrphans(nowIso(-STALE_AFTER_MS), this.o.instance);
      if (failed > 0) this.o.log.warn({ jobs: failed }, 'failed jobs left running by a manager that stopped');
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'could not look for orphaned jobs; the sweep retries');
    }
    const every = (ms: number, run: () => Promise<void>) => {
      const timer = setInterval(() => void run(), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.o.pollMs ?? 1_000, () => this.poll());
    every(this.o.heartbeatMs ?? 5_000, () => this.heartbeat());
    this.wake();
  }

  /** Looks for pending jobs now (after a creation) instead of at the next poll. */
  wake(): void {
    void this.poll();
  }

  /** Stops claiming; jobs still running are cancelled and failed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const job of this.running.values())
      job.abort.abort(new Error('the manager stopped while the job ran'));
    await Promise.all([...this.running.values()].map((job) => job.done));
    await this.polling;
  }

  private poll(): Promise<void> {
    this.polling ??= this.claimAll()
      .catch((err) => this.o.log.debug({ err: errorMessage(err) }, 'job poll failed'))
      .finally(() => {
        this.polling = undefined;
      });
    return this.polling;
  }

  private async claimAll(): Promise<void> {
    while (!this.stopped && this.running.size < this.o.concurrency) {
      const ids = await this.o.store.pendingIds(this.o.concurrency - this.running.size);
      if (ids.length === 0) return;
      for (const id of ids) {
        if (this.stopped || this.running.size >= this.o.concurrency) return;
        const row = await this.o.store.claim(id, this.runnerId);
        if (row) this.launch(row);
      }
    }
  }

  private launch(row: JobRow): void {
    const abort = new AbortController();
    const done = this.execute(row, abort.signal)
      .catch((err) => this.o.log.error({ jobId: row.id, err }, 'job runner failed'))
      .finally(() => {
        this.running.delete(row.id);
        if (!this.stopped) this.wake();
      });
    this.running.set(row.id, { abort, done });
  }

  private async heartbeat(): Promise<void> {
    try {
      if (this.running.size > 0) await this.o.store.heartbeat(this.runnerId);
      const failed = await this.o.store.failOrphans(nowIso(-STALE_AFTER_MS));
      if (failed > 0)
        this.o.log.warn({ jobs: failed }, 'failed jobs whose manager stopped sending heartbeats');
    } catch (err) {
      this.o.log.debug({ err: errorMessage(err) }, 'job heartbeat failed');
    }
  }

  private async execute(row: JobRow, stop: AbortSignal): Promise<void> {
    const log = this.o.log.child({ jobId: row.id, type: row.type });
    const deadline = Date.parse(row.started_at ?? nowIso()) + this.o.timeoutMs;
    const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    const signal = AbortSignal.any([stop, timeout]);
    const args = JSON.parse(row.args) as JobArgs;
    const tasks = jobTasks(row.type, args);
    const schedulers = this.o.schedulers(row.cluster_id);
    const progress = new JobProgress(schedulers.map((s) => s.id));
    // The outcome is worth a few retries through a database blip; past them
    // the job stays running until the heartbeat sweep fails it as orphaned.
    const finish = async (outcome: { state: 'succeeded' | 'failed'; error: string | null }) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const owned = await this.o.store.finish(row.id, this.runnerId, outcome, 1, progress.results);
          log.info({ state: outcome.state, error: outcome.error, owned }, 'job finished');
          return;
        } catch (err) {
          if (attempt >= FINISH_ATTEMPTS || this.stopped) throw err;
          log.warn({ err: errorMessage(err), attempt }, 'job outcome not written; retrying');
          await sleep(1_000 * 2 ** (attempt - 1));
        }
      }
    };
    if (schedulers.length === 0) {
      return finish({ state: 'failed', error: `no active scheduler in cluster ${row.cluster_id}` });
    }
    log.info({ schedulers: schedulers.map((s) => s.id), tasks: tasks.length }, 'job started');
    const connections = schedulers.map((s) => ({
      id: s.id,
      admin: connectScheduler(s.address, s.id, this.o.tls),
    }));
    let saveTimer: NodeJS.Timeout | undefined;
    const save = () => {
      saveTimer ??= setTimeout(() => {
        saveTimer = undefined;
        this.o.store
          .saveProgress(row.id, this.runnerId, progress.progress, progress.results)
          .catch((err) => log.debug({ err: errorMessage(err) }, 'progress not written'));
      }, PROGRESS_WRITE_MS);
    };
    try {
      const request = this.request(row, args, tasks, deadline);
      const preheat = args as PreheatArgs;
      const picking =
        row.type === 'preheat' &&
        preheat.scope === 'all_peers' &&
        (preheat.count !== undefined || preheat.percentage !== undefined);
      const hostIds = picking
        ? await this.pickPeers(connections, preheat, row.id, progress, signal)
        : undefined;
      await Promise.all(
        connections.map((c) => {
          if (!hostIds) return this.runOn(c, request, tasks, progress, save, deadline, signal);
          const mine = hostIds.get(c.id) ?? [];
          // An empty host list means "every host" to the scheduler: skip it instead.
          if (mine.length === 0) return progress.finish(c.id);
          return this.runOn(c, { ...request, hostIds: mine }, tasks, progress, save, deadline, signal);
        }),
      );
    } finally {
      clearTimeout(saveTimer);
      for (const c of connections) c.admin.close();
    }
    if (timeout.aborted || Date.now() >= deadline) {
      return finish({
        state: 'failed',
        error: `the job did not finish within ${Math.round(this.o.timeoutMs / 1000)} s`,
      });
    }
    if (stop.aborted) return finish({ state: 'failed', error: errorMessage(stop.reason) });
    await finish(progress.outcome(row.type, (args as PreheatArgs).scope));
  }

  private request(row: JobRow, args: JobArgs, tasks: JobTask[], deadline: number): RunJobRequest {
    const left = deadline - Date.now() - DEADLINE_MARGIN_MS;
    const timeoutMs = row.type === 'preheat' ? left : Math.min(QUICK_COMMAND_TIMEOUT_MS, left);
    const scope = (args as PreheatArgs).scope;
    return create(RunJobRequestSchema, {
      jobId: row.id,
      kind: KINDS[row.type],
      tasks,
      scope: scope ? SCOPES[scope] : JobScope.UNSPECIFIED,
      timeoutMs: Math.max(1_000, timeoutMs),
    });
  }

  /** count/percentage: the hosts of every scheduler, picked once across the cluster. */
  private async pickPeers(
    connections: Connection[],
    args: PreheatArgs,
    jobId: string,
    progress: JobProgress,
    signal: AbortSignal,
  ): Promise<Map<string, string[]>> {
    const owner = new Map<string, string>();
    await Promise.all(
      connections.map(async (c) => {
        try {
          const { hosts } = await c.admin.client.listHosts({}, { signal, timeoutMs: LIST_HOSTS_TIMEOUT_MS });
          for (const host of hosts) if (!owner.has(host.id)) owner.set(host.id, c.id);
        } catch (err) {
          progress.finish(c.id, callError(err));
        }
      }),
    );
    const chosen = pickHosts([...owner.keys()], args, jobId);
    const byScheduler = new Map<string, string[]>();
    for (const hostId of chosen) {
      const scheduler = owner.get(hostId)!;
      byScheduler.set(scheduler, [...(byScheduler.get(scheduler) ?? []), hostId]);
    }
    return byScheduler;
  }

  private async runOn(
    c: Connection,
    request: RunJobRequest,
    tasks: JobTask[],
    progress: JobProgress,
    save: () => void,
    deadline: number,
    signal: AbortSignal,
  ): Promise<void> {
    const urls = new Map(tasks.map((t) => [t.taskId, t.url]));
    try {
      const stream = c.admin.client.runJob(request, {
        signal,
        // A little past the job's deadline: the job's own timeout (through
        // `signal`) must fire first, so that it, not the RPC's, is reported.
        timeoutMs: Math.max(1, deadline - Date.now()) + DEADLINE_MARGIN_MS,
      });
      for await (const message of stream) {
        if (message.message.case === 'plan') progress.plan(c.id, message.message.value.targets);
        else if (message.message.case === 'result') {
          progress.add(toJobResult(c.id, message.message.value, urls, request.kind));
          save();
        }
      }
      progress.finish(c.id);
    } catch (err) {
      progress.finish(c.id, signal.aborted ? 'cut off: the job ended' : callError(err));
    }
  }
}

function callError(err: unknown): string {
  const e = ConnectError.from(err);
  return `${Code[e.code] ?? 'error'}: ${e.rawMessage}`;
}

const STATES: Record<number, HostState> = {
  [CommandState.SUCCEEDED]: 'succeeded',
  [CommandState.REFUSED]: 'refused',
  [CommandState.TIMEOUT]: 'timeout',
};

function toJobResult(scheduler: string, r: HostResult, urls: Map<string, string>, kind: JobKind): JobResult {
  const result = r.result;
  const state = STATES[result?.state ?? 0] ?? 'failed';
  const holds = result?.hasTask || (kind === JobKind.PREHEAT && state === 'succeeded');
  const stat = kind !== JobKind.DELETE_TASK;
  return {
    scheduler,
    host: r.hostId,
    hostname: r.hostname,
    ip: r.ip,
    is_seed: r.isSeed,
    peer: holds ? `${r.hostId}/${r.taskId}` : null,
    task_id: r.taskId,
    url: urls.get(r.taskId) || null,
    state,
    error: result?.error || null,
    has_task: kind === JobKind.PREHEAT ? null : (result?.hasTask ?? false),
    complete: stat && state === 'succeeded' ? (result?.complete ?? false) : null,
    bytes: stat && state === 'succeeded' ? Number(result?.bytes ?? 0) : null,
    content_length: stat && state === 'succeeded' ? Number(result?.contentLength ?? 0) || null : null,
  };
}
