import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { AsyncQueue } from '../../core/async-queue.js';
import {
  type CommandResult,
  CommandState,
  type HostCommandSchema,
  JobKind,
  type RunJobRequest,
  type RunJobResponse,
  RunJobResponseSchema,
} from '../../protocol/gen/scheduler_pb.js';
import type { CommandBroker } from './command-broker.js';
import { localResult } from './command-broker.js';
import { type ConnectedHosts, checkJobRequest, planTargets, type TaskTargets } from './job-targets.js';

/** A host's answer time when the manager gives none. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;
const MIN_COMMAND_TIMEOUT_MS = 1_000;
const MAX_COMMAND_TIMEOUT_MS = 24 * 3_600_000;
/**
 * Tasks of one job carried out at once: each sends one command to each of
 * its hosts, so a host has at most this many commands of a job in flight.
 */
export const TASKS_AT_ONCE = 4;

/** What carrying out a job needs from the scheduler. */
export interface JobDeps {
  broker: CommandBroker;
  connected(): ConnectedHosts;
  /** Hosts the manager blocked: no preheat goes to them. */
  isBlocked?(hostId: string): boolean;
  hostInfo(hostId: string): { hostname: string; ip: string; isSeed: boolean } | undefined;
  /** Drops the task from the resource graph: nobody is sent to a parent that deleted it. */
  forgetTask(taskId: string): void;
  onResult?(state: CommandState): void;
}

/**
 * Carries out a manager's job on the connected hosts: yields the plan (how
 * many results follow), then one result per (task, host) as each arrives.
 * Ends when every target answered, timed out or went away; `signal` (the
 * manager hung up) cancels the commands still waiting.
 */
export async function* executeJob(
  request: RunJobRequest,
  deps: JobDeps,
  signal: AbortSignal,
): AsyncGenerator<RunJobResponse> {
  checkJobRequest(request);
  const timeoutMs = Math.min(
    MAX_COMMAND_TIMEOUT_MS,
    Math.max(MIN_COMMAND_TIMEOUT_MS, request.timeoutMs || DEFAULT_COMMAND_TIMEOUT_MS),
  );
  const plans = planTargets(request, deps.connected(), deps.isBlocked);
  const total = plans.reduce((sum, p) => sum + p.hosts.length + p.missing.length, 0);
  yield create(RunJobResponseSchema, { message: { case: 'plan', value: { targets: total } } });
  if (total === 0) return;

  const results = new AsyncQueue<RunJobResponse>(total + 1);
  const report = (taskId: string, hostId: string, result: CommandResult) => {
    deps.onResult?.(result.state);
    const info = deps.hostInfo(hostId);
    results.push(
      create(RunJobResponseSchema, {
        message: {
          case: 'result',
          value: {
            taskId,
            hostId,
            hostname: info?.hostname ?? '',
            ip: info?.ip ?? '',
            isSeed: info?.isSeed ?? false,
            result,
          },
        },
      }),
    );
  };
  for (const plan of plans) {
    for (const hostId of plan.missing) {
      report(
        plan.task.taskId,
        hostId,
        localResult(CommandState.FAILED, 'host is not connected to this scheduler'),
      );
    }
  }

  const runTask = async (plan: TaskTargets) => {
    const command = commandFor(request.kind, plan);
    const runs = plan.hosts.map(async (hostId) =>
      report(plan.task.taskId, hostId, await deps.broker.run(hostId, command, timeoutMs, signal)),
    );
    // Forget at once (the commands are queued) and again once answered, in
    // case a host re-registered the task in between.
    if (request.kind === JobKind.DELETE_TASK) deps.forgetTask(plan.task.taskId);
    await Promise.all(runs);
    if (request.kind === JobKind.DELETE_TASK) deps.forgetTask(plan.task.taskId);
  };
  let next = 0;
  const worker = async () => {
    while (next < plans.length && !signal.aborted) await runTask(plans[next++]!);
  };
  void Promise.all(Array.from({ length: Math.min(TASKS_AT_ONCE, plans.length) }, worker));

  let delivered = 0;
  try {
    for await (const message of results) {
      yield message;
      if (++delivered === total) break;
    }
  } finally {
    results.close();
  }
}

function commandFor(kind: JobKind, plan: TaskTargets): MessageInitShape<typeof HostCommandSchema>['command'] {
  const task = plan.task;
  switch (kind) {
    case JobKind.PREHEAT:
      return { case: 'preheat', value: task };
    case JobKind.DELETE_TASK:
      // Origin headers may carry credentials: only a preheat needs them.
      return { case: 'deleteTask', value: { ...task, headers: {} } };
    default:
      return { case: 'statTask', value: { ...task, headers: {} } };
  }
}
