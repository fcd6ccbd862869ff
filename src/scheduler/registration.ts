import { Code, ConnectError } from '@connectrpc/connect';
import { isTaskId, taskIdFor, taskIdForDigest } from '../core/task.js';
import type { PeerIdentity } from '../core/tls.js';
import type { AnnouncePeerRequest, RegisterRequest } from '../protocol/gen/scheduler_pb.js';
import type { Coordinator } from './coordinator.js';
import { checkHostClaim } from './identity.js';
import type { Peer } from './resource/peer.js';

/**
 * Most pieces a task may have: 4 TiB in 64 MiB pieces. Bounds the held-piece
 * bitset a register can make the scheduler keep (8 KiB) and the manifest size.
 */
export const MAX_PIECES = 65_536;
/** Peer ids as the peer role makes them ('<host id>/<task id>'), and then some. */
const PEER_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,191}$/;

/**
 * Checks a register and adds the peer to its task: the caller speaks for its
 * own host only, the task id must be the one its URL hashes to (otherwise a
 * peer could attach a URL of its choosing to someone else's task id and have
 * a seed fetch and vouch for it), and the caps on tasks and peers hold.
 * `evict` removes an earlier registration of the same peer (a reconnect).
 */
export function admit(
  c: Coordinator,
  caller: PeerIdentity,
  request: AnnouncePeerRequest,
  evict: (old: Peer) => void,
): Peer {
  if (request.message.case !== 'register') {
    throw c.refuse('invalid', Code.InvalidArgument, 'the first message of AnnouncePeer must be register');
  }
  const register = request.message.value;
  const hostInfo = guard(c, 'identity', () => checkHostClaim(caller, register.host));
  guard(c, 'invalid', () => checkIds(register));
  const limits = c.settings;
  if (!c.resources.tasks.has(register.taskId) && c.resources.tasks.size >= limits.maxTasks) {
    throw c.refuse(
      'max_tasks',
      Code.ResourceExhausted,
      `scheduler holds its maximum of ${limits.maxTasks} tasks`,
    );
  }
  const existing = c.resources.tasks.get(register.taskId)?.peers.get(register.peerId);
  if (existing && existing.host.id !== hostInfo.id) {
    throw c.refuse(
      'peer_conflict',
      Code.AlreadyExists,
      `peer id '${register.peerId}' belongs to another host`,
    );
  }
  if (existing) evict(existing);
  const now = c.now();
  let task = c.resources.tasks.get(register.taskId);
  if (task && task.peers.size >= limits.maxPeersPerTask) {
    throw c.refuse(
      'max_peers_per_task',
      Code.ResourceExhausted,
      `task ${register.taskId} has its maximum of ${limits.maxPeersPerTask} peers`,
    );
  }
  task ??= c.resources.createTask(register.taskId, originOf(register), now);
  const peer = c.resources.addPeer(task, c.resources.upsertHost(hostInfo), register.peerId, now);
  const limit = task.info?.pieceCount ?? MAX_PIECES;
  for (const n of register.heldPieces) if (n < limit) peer.held.add(n);
  return peer;
}

function checkIds(register: RegisterRequest): void {
  if (!PEER_ID.test(register.peerId)) {
    throw new ConnectError('peer_id must be 1-192 of [A-Za-z0-9._:/-]', Code.InvalidArgument);
  }
  if (!isTaskId(register.taskId)) {
    throw new ConnectError('task_id must be 64 lowercase hex digits', Code.InvalidArgument);
  }
  if (register.digest) {
    // Content-addressed (an OCI blob): the id is the digest, and whoever fetches checks the bytes against it.
    let expected: string;
    try {
      expected = taskIdForDigest(register.digest);
    } catch {
      throw new ConnectError('digest must be sha256:<64 lowercase hex>', Code.InvalidArgument);
    }
    if (expected !== register.taskId)
      throw new ConnectError('task_id does not match the digest', Code.InvalidArgument);
    try {
      new URL(register.url);
    } catch {
      throw new ConnectError(`url '${register.url}' is not a valid URL`, Code.InvalidArgument);
    }
    return;
  }
  const input = {
    url: register.url,
    tag: register.tag,
    application: register.application,
    filterQuery: register.filterQuery,
  };
  let expected: string[];
  try {
    expected = [taskIdFor(input)];
    if (register.pieceLength > 0) expected.push(taskIdFor({ ...input, pieceLength: register.pieceLength }));
  } catch {
    throw new ConnectError(`url '${register.url}' is not a valid URL`, Code.InvalidArgument);
  }
  if (!expected.includes(register.taskId)) {
    throw new ConnectError(
      'task_id does not match the url, tag, application and filter_query',
      Code.InvalidArgument,
    );
  }
}

function originOf(register: RegisterRequest) {
  return {
    url: register.url,
    headers: { ...register.headers },
    tag: register.tag,
    application: register.application,
    filterQuery: [...register.filterQuery],
    ...(register.digest ? { digest: register.digest } : {}),
  };
}

/** Runs a check; a refusal it throws is counted under `reason`. */
function guard<T>(c: Coordinator, reason: 'identity' | 'invalid', check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConnectError) throw c.refuse(reason, err.code, err.rawMessage);
    throw err;
  }
}
