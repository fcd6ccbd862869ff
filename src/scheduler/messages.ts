import { create } from '@bufbuild/protobuf';
import {
  type AnnouncePeerResponse,
  AnnouncePeerResponseSchema,
  type HostEvent,
  HostEventSchema,
  type PieceDigest,
  PieceDigestSchema,
} from '../protocol/gen/scheduler_pb.js';
import type { Peer } from './resource/peer.js';
import type { Task } from './resource/task.js';

/** Builders for what the scheduler sends, kept apart from the decisions that send them. */

const digestCache = new WeakMap<object, PieceDigest[]>();

/** The task's known digests as messages, built once per change and shared by every manifest. */
function digestMessages(task: Task): PieceDigest[] {
  const list = task.digestList();
  let messages = digestCache.get(list);
  if (!messages) {
    messages = list.map((d) => create(PieceDigestSchema, { number: d.number, sha256: d.sha256 }));
    digestCache.set(list, messages);
  }
  return messages;
}

/** The task's manifest as far as it is known (every digest reported so far). */
export function manifestMessage(task: Task): AnnouncePeerResponse {
  const info = task.info!;
  return create(AnnouncePeerResponseSchema, {
    message: {
      case: 'manifest',
      value: {
        contentLength: BigInt(info.contentLength),
        pieceLength: info.pieceLength,
        pieceCount: info.pieceCount,
        digests: digestMessages(task),
        contentSha256: task.contentSha256 ?? new Uint8Array(),
      },
    },
  });
}

/** The parents chosen for a peer, with their hosts' addresses. */
export function parentsMessage(parents: readonly Peer[]): AnnouncePeerResponse {
  return create(AnnouncePeerResponseSchema, {
    message: {
      case: 'parents',
      value: {
        parents: parents.map((p) => ({ peerId: p.id, host: { ...p.host.info }, isSeed: p.host.info.isSeed })),
      },
    },
  });
}

/** "Fetch from the origin yourself", with the reason (seed, no-seed, small, …). */
export function backToSourceMessage(reason: string): AnnouncePeerResponse {
  return create(AnnouncePeerResponseSchema, { message: { case: 'backToSource', value: { reason } } });
}

/** Newly known piece digests (and the content digest once the source finished). */
export function digestsMessage(
  digests: readonly { number: number; sha256: Uint8Array }[],
  contentSha256?: Uint8Array,
): AnnouncePeerResponse {
  return create(AnnouncePeerResponseSchema, {
    message: {
      case: 'pieceDigests',
      value: { digests: [...digests], contentSha256: contentSha256 ?? new Uint8Array() },
    },
  });
}

/** Appends to a queued piece_digests message; false if `message` is anything else. */
export function mergeDigests(
  message: AnnouncePeerResponse,
  digests: readonly { number: number; sha256: Uint8Array }[],
  contentSha256?: Uint8Array,
): boolean {
  if (message.message.case !== 'pieceDigests') return false;
  const value = message.message.value;
  for (const d of digests) value.digests.push(create(PieceDigestSchema, d));
  if (contentSha256) value.contentSha256 = contentSha256;
  return true;
}

/** Asks a seed host to fetch the task from its origin (carries the origin headers). */
export function seedTriggerEvent(task: Task): HostEvent {
  const { origin } = task;
  return create(HostEventSchema, {
    event: {
      case: 'seedTrigger',
      value: {
        taskId: task.id,
        url: origin.url,
        headers: origin.headers,
        tag: origin.tag,
        application: origin.application,
        filterQuery: origin.filterQuery,
        digest: origin.digest ?? '',
      },
    },
  });
}

/** Keepalive on AnnounceHost streams. */
export function pingEvent(): HostEvent {
  return create(HostEventSchema, { event: { case: 'ping', value: true } });
}
