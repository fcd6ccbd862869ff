import { createHash } from 'node:crypto';
import type { JobState, JobType } from '../db/schema.js';

/** How one host's part of a job ended. */
export type HostState = 'succeeded' | 'failed' | 'refused' | 'timeout';

/** One host's answer for one task, as stored and shown. */
export interface JobResult {
  /** The scheduler that carried it out. */
  scheduler: string;
  /** Host id (certificate name); '' when the scheduler itself failed. */
  host: string;
  hostname: string;
  ip: string;
  is_seed: boolean;
  /** `<host>/<task id>`, the peer id, when the host holds (or held) the task. */
  peer: string | null;
  task_id: string;
  url: string | null;
  state: HostState;
  error: string | null;
  /** find/delete: the host held (some of) the task. */
  has_task: boolean | null;
  complete: boolean | null;
  bytes: number | null;
  content_length: number | null;
}

/** Most per-host results a job keeps (counts stay exact beyond it). */
export const MAX_RESULTS = 10_000;

const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  pending: ['running', 'failed'],
  running: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

/** A job moves pending → running → succeeded | failed (or pending → failed); never back. */
export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Picks `count` hosts, or `percentage` percent of them (at least one), in an
 * order fixed by `seed` (the job id): the same job picks the same hosts, and
 * different jobs spread over different ones.
 */
export function pickHosts(
  hostIds: readonly string[],
  select: { count?: number; percentage?: number },
  seed: string,
): string[] {
  const unique = [...new Set(hostIds)];
  let n = unique.length;
  if (select.count !== undefined) n = Math.min(select.count, unique.length);
  else if (select.percentage !== undefined) {
    n = Math.min(unique.length, Math.max(1, Math.ceil((unique.length * select.percentage) / 100)));
  }
  const weight = (id: string) => createHash('sha256').update(seed).update('\n').update(id).digest('hex');
  return unique
    .map((id) => ({ id, w: weight(id) }))
    .sort((a, b) => (a.w < b.w ? -1 : a.w > b.w ? 1 : 0))
    .slice(0, n)
    .map((x) => x.id);
}

interface SchedulerRun {
  planned: number | undefined;
  received: number;
  done: boolean;
  error: string | undefined;
}

const RANK: Record<HostState, number> = { succeeded: 3, failed: 2, refused: 1, timeout: 0 };

/**
 * Collects a job's results as schedulers stream them: progress (each
 * scheduler's share of the job, by the results it planned), one result per
 * (task, host) even when a host is connected to several schedulers (the best
 * answer wins), and the job's outcome.
 */
export class JobProgress {
  private readonly runs = new Map<string, SchedulerRun>();
  private readonly byKey = new Map<string, JobResult>();
  private readonly failures: JobResult[] = [];

  constructor(schedulerIds: readonly string[]) {
    for (const id of schedulerIds)
      this.runs.set(id, { planned: undefined, received: 0, done: false, error: undefined });
  }

  plan(scheduler: string, targets: number): void {
    const run = this.runs.get(scheduler);
    if (run) run.planned = targets;
  }

  add(result: JobResult): void {
    const run = this.runs.get(result.scheduler);
    if (run) run.received++;
    const key = `${result.task_id}\n${result.host}`;
    const known = this.byKey.get(key);
    if (known && RANK[known.state] >= RANK[result.state]) return;
    if (!known && this.byKey.size >= MAX_RESULTS) return;
    this.byKey.set(key, result);
  }

  /** The scheduler's stream ended; with `error` when it failed (unreachable, refused, cut). */
  finish(scheduler: string, error?: string): void {
    const run = this.runs.get(scheduler);
    if (!run || run.done) return;
    run.done = true;
    run.error = error;
    if (error) {
      this.failures.push({
        scheduler,
        host: '',
        hostname: '',
        ip: '',
        is_seed: false,
        peer: null,
        task_id: '',
        url: null,
        state: 'failed',
        error,
        has_task: null,
        complete: null,
        bytes: null,
        content_length: null,
      });
    }
  }

  /** 0..1: finished schedulers count whole, running ones by their results so far. */
  get progress(): number {
    if (this.runs.size === 0) return 1;
    let sum = 0;
    for (const run of this.runs.values()) {
      if (run.done) sum += 1;
      else if (run.planned) sum += Math.min(1, run.received / run.planned);
    }
    return Math.round((sum / this.runs.size) * 1000) / 1000;
  }

  get results(): JobResult[] {
    return [...this.failures, ...this.byKey.values()];
  }

  /** The job's end state and, when it failed, why (one line). */
  outcome(type: JobType, scope?: string): { state: 'succeeded' | 'failed'; error: string | null } {
    const broken = [...this.runs.entries()].filter(([, run]) => run.error);
    if (broken.length > 0) {
      const [id, run] = broken[0]!;
      const more = broken.length > 1 ? ` (and ${broken.length - 1} more schedulers)` : '';
      return { state: 'failed', error: `scheduler ${id}: ${run.error}${more}` };
    }
    const planned = [...this.runs.values()].reduce((sum, run) => sum + (run.planned ?? 0), 0);
    if (planned === 0 && type === 'preheat') {
      const who = scope === 'all_peers' ? 'peer' : 'seed peer';
      return {
        state: 'failed',
        error: `no ${who} is connected to the cluster's schedulers: nothing was preheated`,
      };
    }
    const counts = new Map<HostState, number>();
    let total = 0;
    for (const result of this.byKey.values()) {
      total++;
      if (result.state !== 'succeeded') counts.set(result.state, (counts.get(result.state) ?? 0) + 1);
    }
    const unsuccessful = [...counts.values()].reduce((a, b) => a + b, 0);
    if (unsuccessful === 0) return { state: 'succeeded', error: null };
    const detail = [...counts.entries()].map(([state, n]) => `${n} ${state}`).join(', ');
    return { state: 'failed', error: `${unsuccessful} of ${total} host results did not succeed (${detail})` };
  }
}
