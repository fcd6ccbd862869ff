import { randomUUID } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  type CommandResult,
  CommandResultSchema,
  CommandState,
  type HostCommandSchema,
  type HostEvent,
  HostEventSchema,
} from '../../protocol/gen/scheduler_pb.js';

/** Commands waiting for a host's answer, across every job: a bound on memory and timers. */
export const MAX_PENDING_COMMANDS = 10_000;
/** Longest error text kept from a host's answer. */
const MAX_ERROR_LENGTH = 1_000;

interface Pending {
  hostId: string;
  settle(result: CommandResult): void;
}

/** Where commands go: the hosts' AnnounceHost streams. */
export interface CommandLinks {
  send(hostId: string, event: HostEvent): boolean;
}

/** A result made by the scheduler itself (timeout, host gone, refused). */
export function localResult(state: CommandState, error: string): CommandResult {
  return create(CommandResultSchema, { state, error });
}

/**
 * Sends job commands to hosts on their AnnounceHost streams and matches the
 * answers hosts send back (ReportCommand) by command id. Every command ends:
 * with the host's answer, or `timeout`, or `failed` when the host goes away
 * or the job is cancelled. Only the host a command went to may answer it.
 */
export class CommandBroker {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly links: CommandLinks,
    private readonly limit = MAX_PENDING_COMMANDS,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Sends `command` to `hostId` and resolves with how it ended; never rejects. */
  run(
    hostId: string,
    command: MessageInitShape<typeof HostCommandSchema>['command'],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CommandResult> {
    if (this.pending.size >= this.limit) {
      return Promise.resolve(
        localResult(
          CommandState.REFUSED,
          `the scheduler has ${this.limit} commands pending; try again later`,
        ),
      );
    }
    if (signal?.aborted) return Promise.resolve(localResult(CommandState.FAILED, 'job cancelled'));
    const commandId = randomUUID();
    return new Promise<CommandResult>((resolve) => {
      const onAbort = () => this.settle(commandId, localResult(CommandState.FAILED, 'job cancelled'));
      // Not unref'd: a job waiting for answers is work in progress; stop() ends them all (failAll).
      const timer = setTimeout(
        () => this.settle(commandId, localResult(CommandState.TIMEOUT, `no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(commandId, {
        hostId,
        settle: (result) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
      });
      const event = create(HostEventSchema, { event: { case: 'command', value: { commandId, command } } });
      if (!this.links.send(hostId, event)) {
        this.settle(commandId, localResult(CommandState.FAILED, `host ${hostId} is not connected`));
      }
    });
  }

  /**
   * A host's answer. False when no command waits under that id (answered
   * late, after its timeout); refuses an answer from another host.
   */
  report(hostId: string, result: CommandResult): boolean {
    const pending = this.pending.get(result.commandId);
    if (!pending) return false;
    if (pending.hostId !== hostId) {
      throw new ConnectError(
        `command ${result.commandId} was not sent to host '${hostId}'`,
        Code.PermissionDenied,
      );
    }
    // Only the scheduler decides that a command timed out.
    const state =
      result.state === CommandState.SUCCEEDED ||
      result.state === CommandState.FAILED ||
      result.state === CommandState.REFUSED
        ? result.state
        : CommandState.FAILED;
    this.settle(
      result.commandId,
      create(CommandResultSchema, { ...result, state, error: result.error.slice(0, MAX_ERROR_LENGTH) }),
    );
    return true;
  }

  /** The host's stream ended for good: its commands will not be answered. */
  hostGone(hostId: string): void {
    for (const [id, pending] of this.pending) {
      if (pending.hostId === hostId) {
        this.settle(id, localResult(CommandState.FAILED, `host ${hostId} disconnected before answering`));
      }
    }
  }

  /** Ends every pending command (the scheduler is stopping). */
  failAll(reason: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, localResult(CommandState.FAILED, reason));
  }

  private settle(commandId: string, result: CommandResult): void {
    const pending = this.pending.get(commandId);
    if (!pending) return;
    this.pending.delete(commandId);
    pending.settle(result);
  }
}
