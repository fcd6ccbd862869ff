import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { JobState, JobType } from '../../manager/db/schema.js';
import type { JobResult } from '../../manager/jobs/job-logic.js';
import { type ManagerApi, type ManagerFlags, managerOptions, withApi } from '../manager-api.js';
import { printJson, printRows } from '../output.js';

/** One host's part of a job, as the API returns it (the manager's stored shape). */
export type JobResultJson = JobResult;

export interface JobJson {
  id: string;
  type: JobType;
  state: JobState;
  cluster_id: string;
  progress: number;
  args: Record<string, unknown>;
  results: JobResultJson[];
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

type Flags = ManagerFlags & { json?: boolean };

/** Longest `--wait` (jobs time out on the manager long before, by default after 30 min). */
const WAIT_LIMIT_MS = 24 * 3_600_000;

/** `warren job ls` / `warren job get ID [--wait]`: jobs on the manager (token scope `job`). */
export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('jobs on the manager: preheat, find task, delete task');

  managerOptions(job.command('ls').description('list jobs, newest first'))
    .option('--state <state>', 'only pending, running, succeeded or failed jobs')
    .option('--type <type>', 'only preheat, find_task or delete_task jobs')
    .option('--limit <n>', 'at most this many (1-500)', '50')
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags & { state?: string; type?: string; limit: string }) => {
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.state) query.set('state', flags.state);
      if (flags.type) query.set('type', flags.type);
      await withApi(flags, async (api) => {
        const page = await api.call<{ items: JobJson[] }>('GET', `/api/v1/jobs?${query}`);
        printRows(
          page.items,
          [
            { header: 'id', value: (j) => j.id },
            { header: 'type', value: (j) => j.type },
            { header: 'state', value: (j) => j.state },
            { header: 'progress', value: (j) => `${Math.round(j.progress * 100)}%` },
            { header: 'created', value: (j) => j.created_at },
            { header: 'by', value: (j) => j.created_by },
            { header: 'error', value: (j) => j.error ?? '' },
          ],
          flags.json,
        );
      });
    });

  managerOptions(job.command('get <id>').description("a job's state and per-host results"))
    .option('--wait', 'wait until the job has finished')
    .option('--json', 'machine-readable output')
    .action(async (id: string, flags: Flags & { wait?: boolean }) => {
      await withApi(flags, async (api) => {
        const found = flags.wait
          ? await waitForJob(api, id, !flags.json)
          : await api.call<JobJson>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
        printJob(found, flags.json);
      });
    });
}

/**
 * Polls a job until it has finished; with `progress`, shows how far it got on
 * stderr. A failed job is returned (its results still tell a lot) and makes
 * the command exit 1.
 */
export async function waitForJob(api: ManagerApi, id: string, progress = false): Promise<JobJson> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  let delay = 200;
  for (;;) {
    const job = await api.call<JobJson>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
    if (progress && process.stderr.isTTY) {
      process.stderr.write(`\rjob ${job.id}: ${job.state} ${Math.round(job.progress * 100)}%   `);
    }
    if (job.state === 'succeeded' || job.state === 'failed') {
      if (progress && process.stderr.isTTY) process.stderr.write('\n');
      if (job.state === 'failed') process.exitCode = 1;
      return job;
    }
    if (Date.now() > deadline) throw new WarrenError('WAIT_TIMEOUT', `job ${id} is still ${job.state}`, 504);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2_000);
  }
}

/** A job: as JSON, or a summary line on stderr and its results as a table. */
export function printJob(job: JobJson, json: boolean | undefined): void {
  if (json) {
    printJson(job);
    return;
  }
  const error = job.error ? `: ${job.error}` : '';
  process.stderr.write(
    `job ${job.id} (${job.type}) ${job.state}, ${Math.round(job.progress * 100)}%${error}\n`,
  );
  printResults(job.results, job.type);
}

export function printResults(results: JobResultJson[], type: JobJson['type'], json?: boolean): void {
  printRows(
    results,
    [
      { header: 'host', value: (r) => r.host || '-' },
      { header: 'seed', value: (r) => (r.is_seed ? 'yes' : '') },
      { header: 'ip', value: (r) => r.ip },
      { header: 'task', value: (r) => r.task_id.slice(0, 16) },
      { header: 'state', value: (r) => r.state },
      ...(type === 'preheat'
        ? []
        : [
            {
              header: type === 'find_task' ? 'holds' : 'had it',
              value: (r: JobResultJson) => (r.has_task ? 'yes' : 'no'),
            },
          ]),
      { header: 'bytes', value: (r) => (r.bytes === null ? '' : formatBytes(r.bytes)) },
      { header: 'scheduler', value: (r) => r.scheduler },
      { header: 'error', value: (r) => r.error ?? '' },
    ],
    json,
  );
}

export { collect, parseHeaderLines } from '../option-parsers.js';
