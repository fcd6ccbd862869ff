import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AsyncQueue } from '../core/async-queue.js';
import { loadConfig } from '../core/config.js';
import { MIB, taskIdFor } from '../core/task.js';
import type { TlsMaterial } from '../core/tls.js';
import {
  type AnnouncePeerRequestSchema,
  type AnnouncePeerResponse,
  FailureReason,
  type HostEvent,
  SchedulerService,
} from '../protocol/gen/scheduler_pb.js';
import { createSchedulerClient, type SchedulerClient } from '../protocol/scheduler-client.js';
import { SchedulerConfigSchema } from './config.js';
import { Scheduler } from './scheduler.js';
import { hostOf, makePki, StreamReader } from './test-support.js';

type Request = MessageInitShape<typeof AnnouncePeerRequestSchema>['message'];
type Pki = Awaited<ReturnType<typeof makePki>>;

let pki: Pki;
const certs: Record<string, TlsMaterial> = {};
const clients: SchedulerClient[] = [];

async function startScheduler(flags: Record<string, unknown> = {}): Promise<Scheduler> {
  const config = loadConfig(SchedulerConfigSchema, {
    env: {},
    flags: { listen: '127.0.0.1:0', opsListen: '127.0.0.1:0', 'timeouts.seedTimeout': '500ms', ...flags },
  });
  const scheduler = new Scheduler({ config, tls: certs.scheduler! });
  await scheduler.start();
  return scheduler;
}

function client(scheduler: Scheduler, name: string): SchedulerClient {
  const c = createSchedulerClient({ address: scheduler.addresses.listen, tls: certs[name]! });
  clients.push(c);
  return c;
}

function task(path: string) {
  const url = `https://origin.example/${path}`;
  return { url, taskId: taskIdFor({ url }) };
}

/** Opens AnnouncePeer and registers `peerId` of host `hostId` for the task. */
function openPeer(c: SchedulerClient, t: { url: string; taskId: string }, hostId: string, isSeed = false) {
  const requests = new AsyncQueue<MessageInitShape<typeof AnnouncePeerRequestSchema>>();
  const reader = new StreamReader<AnnouncePeerResponse>(c.announcePeer(requests));
  const peerId = `${hostId}/${t.taskId}`;
  const send = (message: Request) => requests.push({ message });
  send({ case: 'register', value: { ...t, peerId, host: hostOf(hostId, { isSeed }) } });
  return { peerId, reader, send, end: () => requests.close() };
}

async function expectCase<C extends AnnouncePeerResponse['message']['case']>(
  reader: StreamReader<AnnouncePeerResponse>,
  expected: C,
) {
  const message = (await reader.next()).message;
  assert.equal(message.case, expected, `expected ${expected}, got ${message.case}`);
  return message.value as Extract<AnnouncePeerResponse['message'], { case: C }>['value'];
}

const digest = (n: number) => new Uint8Array(32).fill(n + 1);
const shape = (pieces: number) => ({
  contentLength: BigInt(pieces * 4 * MIB),
  pieceLength: 4 * MIB,
  pieceCount: pieces,
});

/** A seed that has reported the manifest of `pieces` pieces and digests of the first `digests`. */
async function seededTask(c: SchedulerClient, path: string, pieces: number, digests: number) {
  const t = task(path);
  const seed = openPeer(c, t, 'seed-1', true);
  assert.equal((await expectCase(seed.reader, 'backToSource')).reason, 'seed');
  seed.send({ case: 'taskInfo', value: shape(pieces) });
  for (let n = 0; n < digests; n++) {
    seed.send({ case: 'pieceFinished', value: { number: n, sha256: digest(n) } });
  }
  return { t, seed };
}

before(async () => {
  pki = await makePki();
  certs.scheduler = await pki.issue('scheduler', 'scheduler');
  certs['seed-1'] = await pki.issue('seed', 'seed-1');
  for (const name of ['peer-1', 'peer-2', 'peer-3', 'peer-4']) certs[name] = await pki.issue('peer', name);
  certs.manager = await pki.issue('manager', 'manager');
});

/** Closes the clients first: their open request streams would hold stop() for its grace period. */
async function shutdown(scheduler: Scheduler): Promise<void> {
  for (const c of clients.splice(0)) c.close();
  await scheduler.stop();
}

after(() => pki.cleanup());

describe('scheduler with a seed peer connected', () => {
  let scheduler: Scheduler;
  let seedHost: StreamReader<HostEvent>;
  before(async () => {
    scheduler = await startScheduler();
    seedHost = new StreamReader(
      client(scheduler, 'seed-1').announceHost({ host: hostOf('seed-1', { isSeed: true }) }),
    );
    assert.equal((await seedHost.next()).event.case, 'ping');
  });
  after(() => shutdown(scheduler));

  it('triggers the seed for a new task and relays its manifest, parents and digests', async () => {
    const t = task('big.bin');
    const peer = openPeer(client(scheduler, 'peer-1'), t, 'peer-1');
    const trigger = (await seedHost.next()).event;
    assert.equal(trigger.case, 'seedTrigger');
    assert.equal(trigger.value.taskId, t.taskId);
    assert.equal(trigger.value.url, t.url);

    const seed = openPeer(client(scheduler, 'seed-1'), t, 'seed-1', true);
    assert.equal((await expectCase(seed.reader, 'backToSource')).reason, 'seed');
    assert.equal(peer.reader.buffered, 0, 'the peer waits for the seed');
    seed.send({ case: 'taskInfo', value: shape(10) });
    const manifest = await expectCase(peer.reader, 'manifest');
    assert.equal(manifest.pieceCount, 10);
    assert.equal(manifest.contentLength, BigInt(40 * MIB));
    const parents = await expectCase(peer.reader, 'parents');
    assert.deepEqual(
      parents.parents.map((p) => [p.peerId, p.isSeed]),
      [[seed.peerId, true]],
    );

    seed.send({ case: 'pieceFinished', value: { number: 0, sha256: digest(0) } });
    seed.send({ case: 'pieceFinished', value: { number: 1, sha256: digest(1) } });
    const seen = new Map<number, Uint8Array>();
    while (seen.size < 2) {
      for (const d of (await expectCase(peer.reader, 'pieceDigests')).digests) seen.set(d.number, d.sha256);
    }
    assert.deepEqual([...seen.keys()].sort(), [0, 1]);
    assert.deepEqual(seen.get(1), digest(1));

    const late = openPeer(client(scheduler, 'peer-2'), t, 'peer-2');
    const lateManifest = await expectCase(late.reader, 'manifest');
    assert.deepEqual(
      lateManifest.digests.map((d) => d.number),
      [0, 1],
    );
    assert.ok((await expectCase(late.reader, 'parents')).parents.some((p) => p.peerId === seed.peerId));

    seed.send({ case: 'downloadFinished', value: { contentSha256: digest(99) } });
    assert.deepEqual((await expectCase(peer.reader, 'pieceDigests')).contentSha256, digest(99));
    const stat = await client(scheduler, 'peer-1').statTask({ taskId: t.taskId });
    assert.equal(stat.peerCount, 3);
    assert.equal(stat.hasManifest, true);
  });

  it('never offers again a parent reported for a bad digest', async () => {
    const { t } = await seededTask(client(scheduler, 'seed-1'), 'bad.bin', 10, 2);
    const p1 = openPeer(client(scheduler, 'peer-1'), t, 'peer-1');
    await expectCase(p1.reader, 'manifest');
    const seedPeerId = (await expectCase(p1.reader, 'parents')).parents[0]!.peerId;
    p1.send({ case: 'pieceFinished', value: { number: 0, parentId: seedPeerId, costMs: 5 } });

    const p2 = openPeer(client(scheduler, 'peer-2'), t, 'peer-2');
    await expectCase(p2.reader, 'manifest');
    const first = (await expectCase(p2.reader, 'parents')).parents.map((p) => p.peerId);
    assert.ok(first.includes(p1.peerId), `peer-1 should be a candidate: ${first}`);

    p2.send({
      case: 'pieceFailed',
      value: { number: 0, parentId: p1.peerId, reason: FailureReason.BAD_DIGEST },
    });
    assert.ok(!(await expectCase(p2.reader, 'parents')).parents.some((p) => p.peerId === p1.peerId));
    p2.send({ case: 'reschedule', value: { exclude: [] } });
    assert.ok(!(await expectCase(p2.reader, 'parents')).parents.some((p) => p.peerId === p1.peerId));
    const p3 = openPeer(client(scheduler, 'peer-3'), t, 'peer-3');
    await expectCase(p3.reader, 'manifest');
    assert.ok(!(await expectCase(p3.reader, 'parents')).parents.some((p) => p.peerId === p1.peerId));
  });

  it('sends small content straight to the origin', async () => {
    const t = task('small.txt');
    const peer = openPeer(client(scheduler, 'peer-4'), t, 'peer-4');
    assert.equal((await seedHost.next()).event.case, 'seedTrigger');
    const seed = openPeer(client(scheduler, 'seed-1'), t, 'seed-1', true);
    await expectCase(seed.reader, 'backToSource');
    seed.send({ case: 'taskInfo', value: { contentLength: 1000n, pieceLength: 4 * MIB, pieceCount: 1 } });
    assert.equal((await expectCase(peer.reader, 'backToSource')).reason, 'small');
  });

  it('sends a waiting peer to the origin when the seed does not answer in time', async () => {
    const t = task('slow.bin');
    const peer = openPeer(client(scheduler, 'peer-4'), t, 'peer-4');
    assert.equal((await seedHost.next()).event.case, 'seedTrigger');
    assert.equal((await expectCase(peer.reader, 'backToSource')).reason, 'seed-timeout');
  });
});

describe('scheduler security', () => {
  let scheduler: Scheduler;
  before(async () => {
    scheduler = await startScheduler();
  });
  after(() => shutdown(scheduler));

  const refusal = async (call: Promise<unknown>) => {
    const err = await call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    assert.ok(err, 'the call should fail');
    return err;
  };

  it('refuses a client whose certificate comes from another CA', async () => {
    const other = await makePki('warren-other-');
    try {
      const foreign = await other.issue('peer', 'peer-1');
      const c = createSchedulerClient({
        address: scheduler.addresses.listen,
        tls: { ...foreign, ca: certs.scheduler!.ca },
      });
      clients.push(c);
      await refusal(c.statTask({ taskId: 'x' }));
    } finally {
      other.cleanup();
    }
  });

  it('refuses a client without a certificate', async () => {
    const transport = createGrpcTransport({
      baseUrl: `https://${scheduler.addresses.listen}`,
      nodeOptions: { ca: certs.scheduler!.ca },
    });
    const err = await refusal(createClient(SchedulerService, transport).statTask({ taskId: 'x' }));
    assert.notEqual(err.code, Code.NotFound);
  });

  it('refuses certificates of roles other than peer and seed', async () => {
    const err = await refusal(client(scheduler, 'manager').statTask({ taskId: 'x' }));
    assert.equal(err.code, Code.PermissionDenied);
  });

  it('refuses a peer certificate claiming to be a seed, and a seed not saying so', async () => {
    const asSeed = new StreamReader(
      client(scheduler, 'peer-1').announceHost({ host: hostOf('peer-1', { isSeed: true }) }),
    );
    assert.equal((await asSeed.ended())?.code, Code.PermissionDenied);
    const registerAsSeed = openPeer(client(scheduler, 'peer-1'), task('a.bin'), 'peer-1', true);
    assert.equal((await registerAsSeed.reader.ended())?.code, Code.PermissionDenied);
    const quietSeed = new StreamReader(client(scheduler, 'seed-1').announceHost({ host: hostOf('seed-1') }));
    assert.equal((await quietSeed.ended())?.code, Code.PermissionDenied);
  });

  it('refuses a Host.id other than the certificate name', async () => {
    const impostor = openPeer(client(scheduler, 'peer-1'), task('b.bin'), 'peer-2');
    const err = await impostor.reader.ended();
    assert.equal(err?.code, Code.PermissionDenied);
    assert.match(err!.rawMessage, /does not match the certificate name/);
  });

  it('sends the first peer to the origin when no seed is connected', async () => {
    const peer = openPeer(client(scheduler, 'peer-3'), task('noseed.bin'), 'peer-3');
    assert.equal((await expectCase(peer.reader, 'backToSource')).reason, 'no-seed');
  });

  it('forgets the manifest of a content-addressed task whose author failed its digest check', async () => {
    const hex = 'ab'.repeat(32);
    const blob = {
      url: `https://registry.example/v2/x/blobs/sha256:${hex}`,
      taskId: hex,
      digest: `sha256:${hex}`,
    };
    const author = openPeer(client(scheduler, 'peer-3'), blob, 'peer-3');
    assert.equal((await expectCase(author.reader, 'backToSource')).reason, 'no-seed');
    const waiting = openPeer(client(scheduler, 'peer-4'), blob, 'peer-4');
    author.send({ case: 'taskInfo', value: shape(3) });
    author.send({ case: 'pieceFinished', value: { number: 0, sha256: digest(0) } });
    assert.equal((await expectCase(waiting.reader, 'manifest')).pieceCount, 3);
    author.send({ case: 'downloadFailed', value: { message: 'DIGEST_MISMATCH', fromSource: true } });
    // The waiting peer takes over as the author ...
    for (;;) {
      const next = (await waiting.reader.next()).message;
      if (next.case === 'backToSource') break;
    }
    // ... and a newcomer is not handed the digests of bytes that failed the blob's digest:
    // it waits for the new author's manifest.
    const newcomer = openPeer(client(scheduler, 'peer-1'), blob, 'peer-1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(newcomer.reader.buffered, 0, 'no stale manifest');
    waiting.send({ case: 'taskInfo', value: shape(2) });
    assert.equal((await expectCase(newcomer.reader, 'manifest')).pieceCount, 2);
  });

  it('refuses a task id that does not match its URL', async () => {
    const forged = { url: 'https://evil.example/x', taskId: task('c.bin').taskId };
    const peer = openPeer(client(scheduler, 'peer-3'), forged, 'peer-3');
    assert.equal((await peer.reader.ended())?.code, Code.InvalidArgument);
  });
});

describe('scheduler rate limit', () => {
  let scheduler: Scheduler;
  before(async () => {
    scheduler = await startScheduler({ 'rateLimit.messagesPerSecond': 2, 'rateLimit.burst': 5 });
  });
  after(() => shutdown(scheduler));

  it('ends the stream of a host over its rate and keeps serving others', async () => {
    const flood = openPeer(client(scheduler, 'peer-1'), task('flood.bin'), 'peer-1');
    for (let i = 0; i < 20; i++) flood.send({ case: 'reschedule', value: { exclude: [] } });
    assert.equal((await flood.reader.ended())?.code, Code.ResourceExhausted);

    const other = openPeer(client(scheduler, 'peer-2'), task('flood.bin'), 'peer-2');
    assert.equal((await expectCase(other.reader, 'backToSource')).reason, 'no-seed');
    const metrics = await fetch(`http://${scheduler.addresses.ops}/metrics`).then((r) => r.text());
    assert.match(metrics, /warren_scheduler_refusals_total\{reason="rate_limit",role="scheduler"\} [1-9]/);
  });
});

describe('scheduler caps', () => {
  let scheduler: Scheduler;
  before(async () => {
    scheduler = await startScheduler({ 'limits.maxPeersPerTask': 2, 'limits.maxTasks': 3 });
  });
  after(() => shutdown(scheduler));

  it('refuses registrations beyond the peers-per-task and task caps', async () => {
    const t = task('capped.bin');
    const first = openPeer(client(scheduler, 'peer-1'), t, 'peer-1');
    await expectCase(first.reader, 'backToSource');
    openPeer(client(scheduler, 'peer-2'), t, 'peer-2');
    const third = openPeer(client(scheduler, 'peer-3'), t, 'peer-3');
    const err = await third.reader.ended();
    assert.equal(err?.code, Code.ResourceExhausted);
    assert.match(err!.rawMessage, /maximum of 2 peers/);
    for (const name of ['t1', 't2'])
      await expectCase(openPeer(client(scheduler, 'peer-4'), task(name), 'peer-4').reader, 'backToSource');
    const overTasks = openPeer(client(scheduler, 'peer-4'), task('t3'), 'peer-4');
    assert.equal((await overTasks.reader.ended())?.code, Code.ResourceExhausted);
  });
});

describe('scheduler departures', () => {
  let scheduler: Scheduler;
  before(async () => {
    scheduler = await startScheduler({ 'timeouts.peerIdleTimeout': '400ms' });
  });
  after(() => shutdown(scheduler));

  it('evicts a peer silent past the idle timeout', async () => {
    const peer = openPeer(client(scheduler, 'peer-1'), task('idle.bin'), 'peer-1');
    await expectCase(peer.reader, 'backToSource');
    assert.equal((await peer.reader.ended(3000))?.code, Code.DeadlineExceeded);
  });

  it('removes every peer of a host whose AnnounceHost stream ends', async () => {
    const { t, seed } = await seededTask(client(scheduler, 'seed-1'), 'leave.bin', 10, 1);
    const abort = new AbortController();
    const hostStream = new StreamReader(
      client(scheduler, 'peer-2').announceHost({ host: hostOf('peer-2') }, { signal: abort.signal }),
    );
    await hostStream.next();
    const peer = openPeer(client(scheduler, 'peer-2'), t, 'peer-2');
    await expectCase(peer.reader, 'manifest');
    const stat = () => client(scheduler, 'seed-1').statTask({ taskId: t.taskId });
    assert.equal((await stat()).peerCount, 2);
    abort.abort();
    assert.equal((await peer.reader.ended())?.code, Code.Aborted);
    assert.equal((await stat()).peerCount, 1);
    seed.end();
  });

  it('lets a host remove only its own peers with LeavePeer', async () => {
    const t = task('leave-peer.bin');
    const peer = openPeer(client(scheduler, 'peer-3'), t, 'peer-3');
    await expectCase(peer.reader, 'backToSource');
    const foreign = client(scheduler, 'peer-1').leavePeer({ taskId: t.taskId, peerId: peer.peerId });
    await assert.rejects(foreign, (e: unknown) => ConnectError.from(e).code === Code.PermissionDenied);
    await client(scheduler, 'peer-3').leavePeer({ taskId: t.taskId, peerId: peer.peerId });
    await assert.rejects(
      client(scheduler, 'peer-3').statTask({ taskId: t.taskId }),
      (e: unknown) => ConnectError.from(e).code === Code.NotFound,
    );
  });
});
