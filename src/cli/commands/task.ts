import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { isTaskId, taskIdFor } from '../../core/task.js';
import { formatBytes } from '../../core/units.js';
import type { TaskStatus } from '../../peer/api/local-api.js';
import { type ManagerFlags, managerOptions } from '../manager-api.js';
import { DEFAULT_SOCKET } from './get.js';
import { collect, type JobJson } from './job.js';

/**
 * `warren task ls|rm` on the local peer; `warren task find` and
 * `warren task rm --everywhere` across the cluster, as jobs on the manager.
 */
export function registerTaskCommands(program: Command): void {
  const task = program
    .command('task')
    .description('tasks: on the local peer (ls, rm), or across the cluster (find, rm --everywhere)');
  task
    .command('ls')
    .description('list tasks')
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (opts: { socket: string; json?: boolean }) => {
      const { tasks } = await callPeer<{ tasks: TaskStatus[] }>(opts.socket, 'GET', '/v1/tasks');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(tasks)}\n`);
        return;
      }
      process.stdout.write('TASK ID           STATE      SIZE        PIECES   URL\n');
      for (const t of tasks) {
        const size = t.contentLength === null ? '?' : formatBytes(t.contentLength);
        process.stdout.write(
          `${t.taskId.slice(0, 16)}  ${t.state.padEnd(9)}  ${size.padEnd(10)}  ${`${t.piecesHeld}/${t.pieceCount}`.padEnd(7)}  ${t.url}\n`,
        );
      }
    });
  program
    .command('gc')
    .description("run the local peer's disk GC now (expired tasks, then down to the low watermark)")
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .action(async (opts: { socket: string }) => {
      const { removed } = await callPeer<{ removed: string[] }>(opts.socket, 'POST', '/v1/gc');
      process.stdout.write(`removed ${removed.length} task(s)${removed.map((id) => `\n  ${id}`).join('')}\n`);
    });
  managerOptions(
    taskIdentity(
      task
        .command('rm <task>')
        .description(
          'remove a task (ID or URL) and its data from the local peer (refused while in use), or with --everywhere from every peer of the cluster',
        ),
    ),
  )
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .option('--everywhere', 'a delete_task job on the manager: every peer holding it removes it')
    .option('--cluster <id>', 'with --everywhere: cluster id (default: the default cluster)')
    .option('--no-wait', 'with --everywhere: print the job id and return')
    .option('--json', 'with --everywhere: machine-readable output')
    .action(async (ref: string, opts: TaskRmFlags) => {
      if (opts.everywhere) return clusterJob('delete_task', ref, opts);
      const taskId = resolveTaskId(ref, opts);
      await callPeer(opts.socket, 'DELETE', `/v1/tasks/${taskId}`);
      process.stdout.write(`removed ${taskId}\n`);
    });
  managerOptions(
    taskIdentity(
      task
        .command('find <task>')
        .description('which peers of the cluster hold a task (ID or URL): a find_task job'),
    ),
  )
    .option('--cluster <id>', 'cluster id (default: the default cluster)')
    .option('--no-wait', 'print the job id and return')
    .option('--json', 'machine-readable output (the holders)')
    .action((ref: string, opts: ClusterTaskFlags) => clusterJob('find_task', ref, opts));
}

interface TaskIdentityFlags {
  tag?: string;
  application?: string;
  filterQuery: string[];
}
interface ClusterTaskFlags extends ManagerFlags, TaskIdentityFlags {
  cluster?: string;
  wait: boolean;
  json?: boolean;
}
interface TaskRmFlags extends ClusterTaskFlags {
  socket: string;
  everywhere?: boolean;
}

/** --tag, --application, --filter-query: with a URL, what makes its task id (as with warren get). */
function taskIdentity(cmd: Command): Command {
  return cmd
    .option('--tag <tag>', 'with a URL: its tag')
    .option('--application <name>', 'with a URL: its application')
    .option(
      '--filter-query <name>',
      'with a URL: query parameter left out of the task id (repeatable)',
      collect,
      [],
    );
}

/** A task id as given, or the one a URL (with its tag, application, filtered query) hashes to. */
function resolveTaskId(ref: string, opts: TaskIdentityFlags): string {
  if (isTaskId(ref)) return ref;
  try {
    return taskIdFor({
      url: ref,
      tag: opts.tag,
      application: opts.application,
      filterQuery: opts.filterQuery,
    });
  } catch {
    throw new WarrenError('BAD_TASK', `'${ref}' is neither a task id (64 hex digits) nor a URL`, 400);
  }
}

/** find_task / delete_task for a task id or URL; waits and prints the hosts unless --no-wait. */
async function clusterJob(
  type: 'find_task' | 'delete_task',
  ref: string,
  opts: ClusterTaskFlags,
): Promise<void> {
  const { waitForJob, printJob, printResults } = await import('./job.js');
  const { withApi } = await import('../manager-api.js');
  const args = isTaskId(ref)
    ? { task_id: ref }
    : {
        url: ref,
        ...(opts.tag ? { tag: opts.tag } : {}),
        ...(opts.application ? { application: opts.application } : {}),
        ...(opts.filterQuery.length > 0 ? { filter_query: opts.filterQuery } : {}),
      };
  await withApi(opts, async (api) => {
    const made = await api.call<JobJson>('POST', '/api/v1/jobs', {
      type,
      ...(opts.cluster ? { cluster_id: opts.cluster } : {}),
      args,
    });
    if (!opts.wait) {
      if (opts.json) printJob(made, true);
      else process.stdout.write(`${made.id}\n`);
      return;
    }
    const job = await waitForJob(api, made.id, !opts.json);
    if (type === 'delete_task') return printJob(job, opts.json);
    // find: the holders (a failed job still lists those that answered).
    const holders = job.results.filter((r) => r.has_task);
    if (!opts.json) {
      const error = job.error ? ` (job ${job.state}: ${job.error})` : '';
      process.stderr.write(`${holders.length} peer(s) hold task ${ref}${error}\n`);
    }
    printResults(holders, 'find_task', opts.json);
  });
}

/** One JSON call to the local peer; the client is loaded only when a command runs (keeps `warren --help` fast). */
async function callPeer<T>(socket: string, method: 'GET' | 'POST' | 'DELETE', path: string): Promise<T> {
  const { PeerClient } = await import('../peer-client.js');
  const client = new PeerClient(socket);
  try {
    return await client.json<T>(method, path);
  } finally {
    await client.close();
  }
}
