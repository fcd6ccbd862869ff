import { Code, ConnectError } from '@connectrpc/connect';
import { pieceCount } from '../core/task.js';
import {
  type AnnouncePeerRequest,
  type DownloadFinished,
  FailureReason,
  type PieceFailed,
  type PieceFinished,
  type TaskInfo,
} from '../protocol/gen/scheduler_pb.js';
import type { Coordinator } from './coordinator.js';
import { MAX_PIECES } from './registration.js';
import type { Peer } from './resource/peer.js';
import type { Task } from './resource/task.js';

const SHA256_BYTES = 32;
/** A reschedule may exclude at most this many peers (the rest are ignored). */
const MAX_EXCLUDE = 1_000;

/** Handles one message after register; a protocol violation throws InvalidArgument. */
export function handleReport(c: Coordinator, peer: Peer, request: AnnouncePeerRequest): void {
  const message = request.message;
  switch (message.case) {
    case 'taskInfo':
      onTaskInfo(c, peer, message.value);
      return;
    case 'pieceFinished':
      onPieceFinished(c, peer, message.value);
      return;
    case 'pieceFailed':
      onPieceFailed(c, peer, message.value);
      return;
    case 'downloadFinished':
      onDownloadFinished(c, peer, message.value);
      return;
    case 'downloadFailed': {
      c.log.info({ taskId: peer.task.id, peerId: peer.id, reason: message.value.message }, 'download failed');
      const { task } = peer;
      const author = peer.isSource;
      peer.state = 'failed';
      c.removePeers([peer]);
      if (task.origin.digest && author && !task.peerList().some((p) => p.state === 'succeeded')) {
        task.forgetManifest();
      }
      return;
    }
    case 'reschedule':
      c.schedule(peer, new Set(message.value.exclude.slice(0, MAX_EXCLUDE)));
      return;
    case 'register':
      throw new ConnectError('register may only be sent once per stream', Code.InvalidArgument);
    default:
      throw new ConnectError('empty AnnouncePeerRequest', Code.InvalidArgument);
  }
}

/** Only a peer the scheduler sent back to source may describe the content. */
function onTaskInfo(c: Coordinator, peer: Peer, info: TaskInfo): void {
  const task = peer.task;
  if (!peer.isSource) {
    // A peer fetching small content directly reports it too; only a source's report counts.
    if (peer.state !== 'direct') {
      c.log.warn({ taskId: task.id, peerId: peer.id }, 'task_info from a peer not sent to source: ignored');
    }
    return;
  }
  const shape = checkShape(info);
  if (task.info) {
    const same =
      task.info.contentLength === shape.contentLength && task.info.pieceLength === shape.pieceLength;
    if (!same) {
      c.log.warn(
        { taskId: task.id, peerId: peer.id, known: task.info, reported: shape },
        'task_info conflicts',
      );
    }
    return;
  }
  task.info = shape;
  c.log.info({ taskId: task.id, peerId: peer.id, ...shape }, 'task info reported');
  c.manifestReady(task);
}

function checkShape(info: TaskInfo) {
  const contentLength = Number(info.contentLength);
  const consistent =
    Number.isSafeInteger(contentLength) &&
    (contentLength === 0 || info.pieceLength > 0) &&
    info.pieceCount === pieceCount(contentLength, info.pieceLength) &&
    info.pieceCount <= MAX_PIECES;
  if (!consistent) {
    throw new ConnectError(
      'task_info is inconsistent: piece_count must be ceil(content_length / piece_length)',
      Code.InvalidArgument,
    );
  }
  return { contentLength, pieceLength: info.pieceLength, pieceCount: info.pieceCount };
}

function onPieceFinished(c: Coordinator, peer: Peer, piece: PieceFinished): void {
  const task = peer.task;
  if (!task.info) {
    c.log.warn({ taskId: task.id, peerId: peer.id, piece: piece.number }, 'piece_finished before task_info');
    return;
  }
  if (piece.number >= task.info.pieceCount) {
    throw new ConnectError(`piece ${piece.number} is beyond the task's piece count`, Code.InvalidArgument);
  }
  peer.held.add(piece.number);
  if (piece.sha256.length > 0) recordDigest(c, peer, piece.number, piece.sha256);
  const parent = piece.parentId ? task.peers.get(piece.parentId) : undefined;
  if (parent && peer.offered.has(parent.id)) parent.recordCost(piece.costMs);
}

/** First writer wins; a different digest later means the origin changed under the task. */
function recordDigest(c: Coordinator, peer: Peer, number: number, sha256: Uint8Array): void {
  const task = peer.task;
  if (!peer.isSource) {
    if (peer.state !== 'direct') {
      c.log.warn(
        { taskId: task.id, peerId: peer.id, piece: number },
        'digest from a non-source peer: ignored',
      );
    }
    return;
  }
  checkDigest(sha256);
  const result = task.recordDigest(number, sha256);
  if (result === 'new') c.peerLinks.relay(task, peer, [{ number, sha256 }]);
  if (result === 'conflict') {
    c.log.warn(
      { taskId: task.id, peerId: peer.id, piece: number },
      'conflicting piece digest: origin changed?',
    );
  }
}

function onDownloadFinished(c: Coordinator, peer: Peer, done: DownloadFinished): void {
  const task = peer.task;
  if (peer.isSource && done.contentSha256.length > 0) {
    checkDigest(done.contentSha256);
    if (task.origin.digest && Buffer.from(done.contentSha256).toString('hex') !== task.id) {
      // Peers check the bytes themselves; the scheduler just does not relay a wrong content digest.
      c.log.warn(
        { taskId: task.id, peerId: peer.id },
        'content digest differs from the task digest: ignored',
      );
      c.finished(peer);
      return;
    }
    const result = task.recordContentDigest(done.contentSha256);
    if (result === 'new') c.peerLinks.relay(task, peer, [], done.contentSha256);
    if (result === 'conflict') {
      c.log.warn({ taskId: task.id, peerId: peer.id }, 'conflicting content digest: origin changed?');
    }
  }
  c.finished(peer);
  c.log.debug({ taskId: task.id, peerId: peer.id }, 'download finished');
}

/**
 * A bad piece blocklists the parent for the whole task at once and counts
 * against its host; any failure gets the reporter new parents. Reports about
 * peers the scheduler never offered to the reporter change nothing.
 */
function onPieceFailed(c: Coordinator, peer: Peer, failure: PieceFailed): void {
  const task = peer.task;
  const ids = { taskId: task.id, peerId: peer.id, parentId: failure.parentId, piece: failure.number };
  if (!peer.offered.has(failure.parentId)) {
    c.log.warn(ids, 'piece failure about a parent never offered to this peer: ignored');
  } else if (failure.reason === FailureReason.BAD_DIGEST) {
    blockParent(c, task, failure.parentId, peer);
  } else {
    const parent = task.peers.get(failure.parentId);
    if (parent) parent.host.uploadFailures++;
    c.log.debug({ ...ids, reason: FailureReason[failure.reason] }, 'piece failed');
  }
  c.schedule(peer, new Set([failure.parentId]));
}

function blockParent(c: Coordinator, task: Task, parentId: string, reporter: Peer): void {
  task.blocklist.add(parentId);
  c.metrics.badDigestReports.inc();
  const parent = task.peers.get(parentId);
  c.log.warn(
    { taskId: task.id, parentId, hostId: parent?.host.id, reporter: reporter.id },
    'parent sent a piece not matching the manifest: blocklisted for the task',
  );
  if (!parent) return;
  parent.host.badDigests++;
  for (const child of [...parent.children]) if (child !== reporter) c.schedule(child);
}

function checkDigest(sha256: Uint8Array): void {
  if (sha256.length !== SHA256_BYTES) {
    throw new ConnectError(`a SHA-256 digest is ${SHA256_BYTES} bytes`, Code.InvalidArgument);
  }
}
