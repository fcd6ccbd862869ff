import { Code, ConnectError } from '@connectrpc/connect';
import { isTaskId, taskIdOf } from '../../core/task.js';
import { type CommandTask, JobKind, JobScope, type RunJobRequest } from '../../protocol/gen/scheduler_pb.js';
import { pickSeedHost } from '../seed-selector.js';

/** Most tasks in one RunJob (the manager allows 100 URLs per preheat). */
export const MAX_JOB_TASKS = 100;
/** Most explicit host ids in one RunJob. */
export const MAX_JOB_HOSTS = 10_000;

/** The hosts with an open AnnounceHost stream. */
export interface ConnectedHosts {
  hostIds: readonly string[];
  seedIds: ReadonlySet<string>;
}

/** One task's targets: hosts to command, and asked-for hosts that are not connected. */
export interface TaskTargets {
  task: CommandTask;
  hosts: string[];
  missing: string[];
}

/**
 * Checks a RunJob request: a known kind, 1-100 tasks, each task id well
 * formed and, when a URL is given (always for preheat), the one the URL
 * hashes to — a host recomputes it too and would refuse the command.
 */
export function checkJobRequest(request: RunJobRequest): void {
  const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);
  if (request.kind === JobKind.UNSPECIFIED || !JobKind[request.kind]) throw invalid('kind is required');
  if (request.tasks.length === 0 || request.tasks.length > MAX_JOB_TASKS) {
    throw invalid(`a job has 1 to ${MAX_JOB_TASKS} tasks, not ${request.tasks.length}`);
  }
  if (request.hostIds.length > MAX_JOB_HOSTS) throw invalid(`at most ${MAX_JOB_HOSTS} host_ids`);
  if (
    request.kind === JobKind.PREHEAT &&
    (request.scope === JobScope.UNSPECIFIED || !JobScope[request.scope])
  ) {
    throw invalid('a preheat needs a scope');
  }
  for (const task of request.tasks) {
    if (!isTaskId(task.taskId)) throw invalid(`task_id '${task.taskId}' is not 64 lowercase hex digits`);
    if (request.kind === JobKind.PREHEAT && !task.url) throw invalid('a preheat task needs its url');
    if (task.url && commandTaskId(task) !== task.taskId) {
      throw invalid(
        `task_id ${task.taskId} does not match url ${task.url} (with its tag, application, filter_query)`,
      );
    }
  }
}

/** The id a task's origin identity hashes to; undefined for an unparsable URL. */
function commandTaskId(task: CommandTask): string | undefined {
  try {
    return taskIdOf({
      url: task.url,
      tag: task.tag,
      application: task.application,
      filterQuery: task.filterQuery,
      digest: task.digest || undefined,
    });
  } catch {
    return undefined;
  }
}

/**
 * Which connected hosts each task goes to. Preheat: the seed the task hashes
 * to (the one that would be triggered for it anyway), every seed, or every
 * host (or only `host_ids`, chosen by the manager for a count or percentage)
 * — never a blocked host, which nobody would fetch from. Find and delete:
 * every host, blocked ones too, since any of them may hold the task.
 */
export function planTargets(
  request: RunJobRequest,
  all: ConnectedHosts,
  isBlocked: (hostId: string) => boolean = () => false,
): TaskTargets[] {
  if (request.kind !== JobKind.PREHEAT) {
    return request.tasks.map((task) => ({ task, hosts: [...all.hostIds], missing: [] }));
  }
  const hosts = {
    hostIds: all.hostIds.filter((id) => !isBlocked(id)),
    seedIds: new Set([...all.seedIds].filter((id) => !isBlocked(id))),
  };
  const connected = new Set(hosts.hostIds);
  return request.tasks.map((task) => {
    switch (request.scope) {
      case JobScope.SINGLE_SEED_PEER: {
        const seed = pickSeedHost(task.taskId, hosts.seedIds);
        return { task, hosts: seed ? [seed] : [], missing: [] };
      }
      case JobScope.ALL_SEED_PEERS:
        return { task, hosts: [...hosts.seedIds], missing: [] };
      default: {
        if (request.hostIds.length === 0) return { task, hosts: [...hosts.hostIds], missing: [] };
        const wanted = [...new Set(request.hostIds)];
        return {
          task,
          hosts: wanted.filter((id) => connected.has(id)),
          missing: wanted.filter((id) => !connected.has(id)),
        };
      }
    }
  });
}
