import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { errorMessage, isWarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { isTaskId, taskIdOf } from '../../core/task.js';
import {
  type CommandResultSchema,
  CommandState,
  type CommandTask,
  type HostCommand,
} from '../../protocol/gen/scheduler_pb.js';
import type { DownloadRequest } from '../download/task-download.js';
import type { StoredTask } from '../storage/stored-task.js';
import type { TaskStore } from '../storage/task-store.js';

/** How a command ended, as the scheduler is told (CommandResult without its id). */
export interface CommandAnswer {
  state: CommandState;
  error?: string;
  hasTask?: boolean;
  complete?: boolean;
  bytes?: bigint;
  contentLength?: bigint;
}

/** Commands carried out at once; more are refused with the reason (the job shows it). */
export const MAX_COMMANDS_IN_FLIGHT = 16;
/** How long a delete waits for readers of the task to finish before removing it under them. */
export const READER_GRACE_MS = 5_000;

/** What the peer daemon lends its command handler. */
export interface HostCommandsComponents {
  log: Logger;
  store: TaskStore;
  /** Starts (or joins) the task's download on the peer's usual path; throws when over its limits. */
  download(request: DownloadRequest): { done: Promise<void> };
  /** Cancels the task's running download, if any; resolves once it has stopped. */
  cancelDownload(taskId: string, reason: string): Promise<void>;
  /** The task was removed: the scheduler is told the peer left it. */
  removed(taskId: string): void;
}

/**
 * The peer's side of manager jobs, received on the AnnounceHost stream:
 * preheat (download the task as a seed trigger would), delete (cancel and
 * remove it: how an operator purges a bad task everywhere), stat (say how
 * much of it this peer holds). Each answer goes back to the scheduler that
 * asked, through `reply`.
 */
export class HostCommands {
  private inFlight = 0;

  constructor(private readonly c: HostCommandsComponents) {}

  get running(): number {
    return this.inFlight;
  }

  /** Carries the command out in the background and answers through `reply`. */
  handle(
    command: HostCommand,
    reply: (result: MessageInitShape<typeof CommandResultSchema>) => Promise<unknown>,
  ): void {
    const answer = (result: CommandAnswer) => {
      reply({ ...result, commandId: command.commandId }).catch((err) =>
        this.c.log.info(
          { commandId: command.commandId, err: errorMessage(err) },
          'command answer not delivered',
        ),
      );
    };
    const task = command.command.value;
    const why = !task
      ? 'unknown command (a newer scheduler?)'
      : this.inFlight >= MAX_COMMANDS_IN_FLIGHT
        ? `this peer already runs ${MAX_COMMANDS_IN_FLIGHT} commands; try again later`
        : checkTask(task);
    if (!task || why) {
      answer({ state: CommandState.REFUSED, error: why });
      return;
    }
    this.inFlight++;
    const log = this.c.log.child({ commandId: command.commandId, taskId: task.taskId });
    log.info({ command: command.command.case }, 'job command received');
    this.run(command)
      .catch((err): CommandAnswer => {
        const refused = isWarrenError(err, 'TOO_MANY_DOWNLOADS') || isWarrenError(err, 'TOO_MANY_TASKS');
        return { state: refused ? CommandState.REFUSED : CommandState.FAILED, error: errorMessage(err) };
      })
      .then((result) => {
        this.inFlight--;
        log.info({ state: CommandState[result.state ?? 0], error: result.error }, 'job command done');
        answer(result);
      });
  }

  private run(command: HostCommand): Promise<CommandAnswer> {
    const c = command.command;
    switch (c.case) {
      case 'preheat':
        return this.preheat(c.value);
      case 'deleteTask':
        return this.delete(c.value);
      case 'statTask':
        return Promise.resolve(this.stat(c.value.taskId));
      default:
        return Promise.resolve({ state: CommandState.REFUSED, error: 'unknown command' });
    }
  }

  /** Downloads the task like any other; answers once it is whole and verified. */
  private async preheat(task: CommandTask): Promise<CommandAnswer> {
    const download = this.c.download({
      taskId: task.taskId,
      url: task.url,
      headers: { ...task.headers },
      tag: task.tag,
      application: task.application,
      filterQuery: [...task.filterQuery],
      ...(task.digest ? { digest: task.taskId } : {}),
    });
    await download.done;
    return this.stat(task.taskId);
  }

  /**
   * Cancels a download of the task, gives readers (uploads to other peers,
   * local reads) a moment to finish, then removes it. A read still open after
   * that keeps its open file to the end (the bytes it reads are whole); a
   * reader waiting for more pieces is ended with TASK_REMOVED.
   */
  private async delete(task: CommandTask): Promise<CommandAnswer> {
    const had = this.c.store.get(task.taskId) !== undefined;
    await this.c.cancelDownload(task.taskId, 'task deleted by a job');
    const stored = this.c.store.get(task.taskId);
    if (stored) {
      const deadline = Date.now() + READER_GRACE_MS;
      while (stored.inUse && Date.now() < deadline) await sleep(50);
      try {
        await this.c.store.remove(task.taskId, { force: true });
      } catch (err) {
        if (!isWarrenError(err, 'TASK_NOT_FOUND')) throw err; // removed meanwhile (GC): fine
      }
      this.c.removed(task.taskId);
    }
    return { state: CommandState.SUCCEEDED, hasTask: had || stored !== undefined };
  }

  private stat(taskId: string): CommandAnswer {
    const task = this.c.store.get(taskId);
    if (!task) return { state: CommandState.SUCCEEDED, hasTask: false };
    const bytes = heldBytes(task);
    return {
      state: CommandState.SUCCEEDED,
      hasTask: task.complete || task.pieces.held > 0,
      complete: task.complete,
      bytes: BigInt(bytes),
      contentLength: BigInt(task.meta.contentLength ?? 0),
    };
  }
}

/**
 * Why the command's task cannot be trusted, if it cannot: its id must be the
 * one its URL hashes to, or, for a content-addressed task, its digest's hex.
 */
function checkTask(task: CommandTask): string | undefined {
  if (!isTaskId(task.taskId)) return 'task_id is not 64 lowercase hex digits';
  if (!task.url) return undefined; // by id only (find, delete): nothing to check against
  try {
    const expected = taskIdOf({ ...task, digest: task.digest || undefined });
    return expected === task.taskId ? undefined : `task id ${task.taskId} does not match its url or digest`;
  } catch {
    return task.digest
      ? `digest '${task.digest}' is not sha256:<64 hex>`
      : `url '${task.url}' is not a valid URL`;
  }
}

/** Verified bytes of the task on disk: held pieces, the last one possibly short. */
export function heldBytes(task: Pick<StoredTask, 'pieces' | 'meta'>): number {
  const { contentLength, pieceLength } = task.meta;
  if (contentLength === undefined || pieceLength === undefined) return 0;
  const last = task.pieces.size - 1;
  let bytes = task.pieces.held * pieceLength;
  if (last >= 0 && task.pieces.has(last)) bytes -= pieceLength - (contentLength - last * pieceLength);
  return bytes;
}
