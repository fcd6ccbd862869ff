import { formatDigest } from '../../core/digest.js';
import type { WarrenError } from '../../core/errors.js';
import type { TaskDownload } from '../download/task-download.js';
import type { StoredTask } from '../storage/stored-task.js';
import type { TaskStatus } from './local-api.js';

/** What the local API shows of a task: the stored state, and the running (or last) download's. */
export function taskStatus(task: StoredTask, download: TaskDownload | undefined): TaskStatus {
  const failure = download?.error ?? task.failure;
  return {
    taskId: task.id,
    url: task.meta.url,
    state: download ? download.state : 'stored',
    contentLength: task.meta.contentLength ?? null,
    pieceCount: task.pieces.size,
    piecesHeld: task.pieces.held,
    inUse: task.inUse,
    lastAccess: new Date(task.lastAccess).toISOString(),
    contentSha256: task.meta.contentSha256 ? formatDigest(Buffer.from(task.meta.contentSha256, 'hex')) : null,
    ...(failure
      ? { error: { code: (failure as WarrenError).code ?? 'ERROR', message: failure.message } }
      : {}),
    ...(download ? { stats: { ...download.stats } } : {}),
  };
}
