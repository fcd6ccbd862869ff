import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { Logger } from '../core/log.js';
import type { PeerIdentity } from '../core/tls.js';
import {
  type AnnounceHostRequest,
  type AnnouncePeerRequest,
  type AnnouncePeerResponse,
  type CommandResult,
  type HostEvent,
  type LeaveRequest,
  type SchedulerService,
  type StatTaskRequest,
  StatTaskResponseSchema,
} from '../protocol/gen/scheduler_pb.js';
import type { Coordinator } from './coordinator.js';
import { checkHostClaim, requireCaller } from './identity.js';
import type { CommandBroker } from './jobs/command-broker.js';
import { Outbox } from './outbox.js';
import type { RateLimiter } from './rate-limit.js';
import type { HostInfo } from './resource/host.js';
import type { Peer } from './resource/peer.js';

/** Messages queued for one stream before the client counts as not reading (see Outbox). */
export const OUTBOX_LIMIT = 1_024;

/** What the RPC layer needs. */
export interface ServiceComponents {
  coordinator: Coordinator;
  limiter: RateLimiter;
  logger: Logger;
  /** Job commands sent to hosts, waiting for their ReportCommand. */
  commands: CommandBroker;
}

/**
 * The SchedulerService over ConnectRPC: authenticates every call from the
 * client certificate, applies the per-host message rate, and turns streams
 * into calls on the coordinator. Errors end the stream with their code; no
 * error escapes to crash the process.
 */
export function createSchedulerService(components: ServiceComponents): ServiceImpl<typeof SchedulerService> {
  const { coordinator, limiter, logger, commands } = components;

  /** Refuses a caller over its message rate (the stream or call ends with resource_exhausted). */
  function charge(caller: PeerIdentity): void {
    if (limiter.take(caller.name)) return;
    throw coordinator.refuse(
      'rate_limit',
      Code.ResourceExhausted,
      `host '${caller.name}' is over its message rate`,
    );
  }

  const overflowed = () => coordinator.metrics.refusals.inc({ reason: 'overflow' });

  function authenticate(ctx: HandlerContext): PeerIdentity {
    try {
      return requireCaller(ctx);
    } catch (err) {
      coordinator.metrics.refusals.inc({ reason: 'identity' });
      throw err;
    }
  }

  /** Reads one peer's requests until the stream ends; never throws (errors go to the outbox). */
  async function consume(
    caller: PeerIdentity,
    requests: AsyncIterable<AnnouncePeerRequest>,
    outbox: Outbox<AnnouncePeerResponse>,
  ): Promise<void> {
    let peer: Peer | undefined;
    try {
      for await (const request of requests) {
        charge(caller);
        if (peer) coordinator.report(peer, request);
        else peer = coordinator.register(caller, request, outbox);
      }
      outbox.close();
    } catch (err) {
      const ids = { hostId: caller.name, taskId: peer?.task.id, peerId: peer?.id };
      outbox.fail(toConnectError(err, logger, ids));
    } finally {
      const ended = peer;
      if (ended) {
        const ids = { taskId: ended.task.id, peerId: ended.id };
        coordinator.guarded(ids, 'stream end', () => coordinator.streamEnded(ended, outbox));
      }
    }
  }

  return {
    async *announcePeer(requests: AsyncIterable<AnnouncePeerRequest>, ctx: HandlerContext) {
      const caller = authenticate(ctx);
      const outbox = new Outbox<AnnouncePeerResponse>(OUTBOX_LIMIT, overflowed);
      const onAbort = () => outbox.close();
      ctx.signal.addEventListener('abort', onAbort);
      // Not awaited: it ends with the request stream, which may outlive our reply stream.
      void consume(caller, requests, outbox);
      try {
        yield* outbox;
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        outbox.close();
      }
    },

    async *announceHost(request: AnnounceHostRequest, ctx: HandlerContext) {
      const caller = authenticate(ctx);
      charge(caller);
      let info: HostInfo;
      try {
        info = checkHostClaim(caller, request.host);
      } catch (err) {
        coordinator.metrics.refusals.inc({ reason: 'identity' });
        throw err;
      }
      const outbox = new Outbox<HostEvent>(OUTBOX_LIMIT, overflowed);
      const onAbort = () => outbox.close();
      ctx.signal.addEventListener('abort', onAbort);
      coordinator.hostConnected(info, outbox);
      try {
        yield* outbox;
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        outbox.close();
        coordinator.guarded({ hostId: info.id }, 'host departure', () =>
          coordinator.hostDisconnected(info.id, outbox),
        );
        // Gone for good (not replaced by a newer stream): its job commands will not be answered.
        if (!coordinator.hostLinks.has(info.id)) commands.hostGone(info.id);
      }
    },

    async leavePeer(request: LeaveRequest, ctx: HandlerContext) {
      const caller = authenticate(ctx);
      charge(caller);
      const peer = coordinator.resources.tasks.get(request.taskId)?.peers.get(request.peerId);
      if (peer && peer.host.id !== caller.name) {
        throw coordinator.refuse('identity', Code.PermissionDenied, 'a host may only remove its own peers');
      }
      if (peer) {
        const ids = { taskId: request.taskId, peerId: request.peerId };
        logger.debug(ids, 'peer left');
        coordinator.guarded(ids, 'leave', () => coordinator.removePeers([peer]));
      }
      return {};
    },

    async statTask(request: StatTaskRequest, ctx: HandlerContext) {
      charge(authenticate(ctx));
      const task = coordinator.resources.tasks.get(request.taskId);
      if (!task) throw new ConnectError(`task ${request.taskId} is not known`, Code.NotFound);
      return create(StatTaskResponseSchema, {
        taskId: task.id,
        peerCount: task.peers.size,
        hasManifest: task.info !== undefined,
        contentLength: BigInt(task.info?.contentLength ?? 0),
      });
    },

    async reportCommand(request: CommandResult, ctx: HandlerContext) {
      const caller = authenticate(ctx);
      charge(caller);
      if (!commands.report(caller.name, request)) {
        logger.debug({ hostId: caller.name, commandId: request.commandId }, 'late or unknown command answer');
      }
      return {};
    },
  };
}

/** Refusals pass through as they are; anything else is a bug: logged in full, sent as internal. */
function toConnectError(err: unknown, logger: Logger, ids: Record<string, unknown>): ConnectError {
  if (err instanceof ConnectError) {
    logger.info({ ...ids, code: Code[err.code], reason: err.rawMessage }, 'announce stream ended with error');
    return err;
  }
  logger.error({ ...ids, err }, 'unexpected error on announce stream');
  return new ConnectError('internal scheduler error', Code.Internal);
}
