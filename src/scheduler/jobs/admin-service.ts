import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import {
  CommandState,
  JobKind,
  ListHostsResponseSchema,
  type RunJobRequest,
  type SchedulerAdminService,
} from '../../protocol/gen/scheduler_pb.js';
import type { Coordinator } from '../coordinator.js';
import { requireManager } from '../identity.js';
import type { CommandBroker } from './command-broker.js';
import { executeJob } from './job-executor.js';

/** Jobs a scheduler carries out at once; more are refused (that job fails, naming the reason). */
export const MAX_RUNNING_JOBS = 32;

export interface AdminComponents {
  coordinator: Coordinator;
  broker: CommandBroker;
  registry: Registry;
  logger: Logger;
  /** Hosts the manager blocked (by id or IP): preheats skip them. */
  isBlockedHost?: (hostId: string) => boolean;
}

/**
 * The manager's side door into the scheduler: carry a job out on the
 * connected hosts, list those hosts. Callable only with a `manager`
 * certificate (and a manager can call nothing else).
 */
export function createSchedulerAdminService(c: AdminComponents): ServiceImpl<typeof SchedulerAdminService> {
  const { coordinator, broker, logger } = c;
  const jobs = new Counter({
    name: 'warren_scheduler_jobs_total',
    help: 'Jobs the manager asked this scheduler to carry out, by kind',
    labelNames: ['kind'],
    registers: [c.registry],
  });
  const results = new Counter({
    name: 'warren_scheduler_job_commands_total',
    help: 'Host commands of jobs, by how they ended',
    labelNames: ['state'],
    registers: [c.registry],
  });
  let running = 0;

  const authenticate = (ctx: HandlerContext) => {
    try {
      return requireManager(ctx);
    } catch (err) {
      coordinator.metrics.refusals.inc({ reason: 'identity' });
      throw err;
    }
  };

  const deps = {
    broker,
    connected: () => coordinator.hostLinks.connected(),
    isBlocked: (hostId: string) => c.isBlockedHost?.(hostId) ?? false,
    hostInfo: (hostId: string) => coordinator.resources.hosts.get(hostId)?.info,
    forgetTask: (taskId: string) => forgetTask(coordinator, taskId),
    onResult: (state: CommandState) => results.inc({ state: stateLabel(state) }),
  };

  return {
    async *runJob(request: RunJobRequest, ctx: HandlerContext) {
      authenticate(ctx);
      if (running >= MAX_RUNNING_JOBS) {
        throw new ConnectError(
          `the scheduler runs its maximum of ${MAX_RUNNING_JOBS} jobs`,
          Code.ResourceExhausted,
        );
      }
      running++;
      const kind = (JobKind[request.kind] ?? 'UNKNOWN').toLowerCase();
      jobs.inc({ kind });
      logger.info({ jobId: request.jobId, kind, tasks: request.tasks.length }, 'job started');
      try {
        yield* executeJob(request, deps, ctx.signal);
      } finally {
        running--;
        logger.info({ jobId: request.jobId, kind }, 'job ended');
      }
    },

    async listHosts(_request, ctx: HandlerContext) {
      authenticate(ctx);
      const { hostIds } = coordinator.hostLinks.connected();
      // The hosts a preheat may go to: blocked ones are left out.
      const hosts = hostIds.flatMap((id) => {
        const info = coordinator.resources.hosts.get(id)?.info;
        if (!info || c.isBlockedHost?.(id)) return [];
        return [{ id, hostname: info.hostname, ip: info.ip, isSeed: info.isSeed }];
      });
      return create(ListHostsResponseSchema, { hosts });
    },
  };
}

/**
 * Removes a deleted task from the resource graph: its peers leave (their
 * streams end quietly: the delete command cancels their downloads), a pending
 * seed trigger is dropped, and the task is forgotten.
 */
function forgetTask(coordinator: Coordinator, taskId: string): void {
  const task = coordinator.resources.tasks.get(taskId);
  if (!task) return;
  task.seedTrigger = undefined;
  coordinator.removePeers([...task.peers.values()]);
  coordinator.resources.dropTaskIfEmpty(task);
}

function stateLabel(state: CommandState): string {
  return (CommandState[state] ?? 'UNSPECIFIED').toLowerCase();
}
