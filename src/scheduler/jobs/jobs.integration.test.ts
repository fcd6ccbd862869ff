import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { AsyncQueue } from '../../core/async-queue.js';
import { loadConfig } from '../../core/config.js';
import { taskIdFor } from '../../core/task.js';
import type { TlsMaterial } from '../../core/tls.js';
import {
  type AnnouncePeerRequestSchema,
  type AnnouncePeerResponse,
  CommandState,
  type HostCommand,
  type HostEvent,
  JobKind,
  JobScope,
  type RunJobRequestSchema,
  type RunJobResponse,
  SchedulerAdminService,
} from '../../protocol/gen/scheduler_pb.js';
import { createSchedulerClient, type SchedulerClient } from '../../protocol/scheduler-client.js';
import { SchedulerConfigSchema } from '../config.js';
import { Scheduler } from '../scheduler.js';
import { pickSeedHost } from '../seed-selector.js';
import { hostOf, makePki, StreamReader } from '../test-support.js';

/*
 * Jobs through a real scheduler over mTLS: the manager's certificate runs
 * them on SchedulerAdminService, hosts (real AnnounceHost streams) receive
 * the commands and answer with ReportCommand.
 */

type Pki = Awaited<ReturnType<typeof makePki>>;
let pki: Pki;
let scheduler: Scheduler;
const certs: Record<string, TlsMaterial> = {};
const closers: Array<() => void> = [];

function client(name: string): SchedulerClient {
  const c = createSchedulerClient({ address: scheduler.addresses.listen, tls: certs[name]! });
  closers.push(() => c.close());
  return c;
}

function admin(name = 'manager') {
  const baseUrl = `https://${scheduler.addresses.listen}`;
  const tls = certs[name]!;
  const sessionManager = new Http2SessionManager(baseUrl, {}, { ca: tls.ca, cert: tls.cert, key: tls.key });
  closers.push(() => sessionManager.abort());
  return createClient(SchedulerAdminService, createGrpcTransport({ baseUrl, sessionManager }));
}

/** A host: its AnnounceHost stream, and the commands (not pings) it received. */
class FakeHost {
  readonly client: SchedulerClient;
  readonly events: StreamReader<HostEvent>;
  constructor(
    readonly id: string,
    isSeed = false,
  ) {
    this.client = client(id);
    this.events = new StreamReader(this.client.announceHost({ host: hostOf(id, { isSeed }) }));
  }
  async nextCommand(timeoutMs = 3000): Promise<HostCommand> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = (await this.events.next(Math.max(1, deadline - Date.now()))).event;
      if (event.case === 'command') return event.value;
    }
  }
  answer(command: HostCommand, result: { state?: CommandState; hasTask?: boolean; error?: string }) {
    return this.client.reportCommand({
      commandId: command.commandId,
      state: CommandState.SUCCEEDED,
      ...result,
    });
  }
}

function task(path: string) {
  const url = `https://origin.example/${path}`;
  return { url, taskId: taskIdFor({ url }) };
}

async function connected(count: number) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const { hosts } = await admin().listHosts({});
    if (hosts.length >= count) return hosts;
    if (Date.now() > deadline) throw new Error(`only ${hosts.length} hosts connected`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail('the call was not refused');
}

/** Runs a job and collects its plan and results (StreamReader over the server stream). */
function run(request: MessageInitShape<typeof RunJobRequestSchema>) {
  return new StreamReader<RunJobResponse>(admin().runJob(request));
}

async function plan(reader: StreamReader<RunJobResponse>): Promise<number> {
  const first = (await reader.next()).message;
  assert.equal(first.case, 'plan');
  return first.value.targets;
}

async function result(reader: StreamReader<RunJobResponse>, timeoutMs = 3000) {
  const message = (await reader.next(timeoutMs)).message;
  assert.equal(message.case, 'result');
  return message.value;
}

before(async () => {
  pki = await makePki();
  certs.scheduler = await pki.issue('scheduler', 'scheduler');
  certs.manager = await pki.issue('manager', 'manager');
  for (const name of ['seed-1', 'seed-2']) certs[name] = await pki.issue('seed', name);
  for (const name of ['peer-1', 'peer-2']) certs[name] = await pki.issue('peer', name);
  const config = loadConfig(SchedulerConfigSchema, {
    env: {},
    flags: { listen: '127.0.0.1:0', opsListen: '127.0.0.1:0' },
  });
  scheduler = new Scheduler({ config, tls: certs.scheduler });
  await scheduler.start();
});

after(async () => {
  for (const close of closers.splice(0)) close();
  await scheduler.stop();
  pki.cleanup();
});

describe('scheduler jobs', () => {
  let seed1: FakeHost;
  let seed2: FakeHost;
  let peer1: FakeHost;
  before(async () => {
    seed1 = new FakeHost('seed-1', true);
    seed2 = new FakeHost('seed-2', true);
    peer1 = new FakeHost('peer-1');
    await connected(3);
  });

  it('lets only the manager certificate run jobs, and the manager nothing else', async () => {
    const t = task('roles.bin');
    const byPeer = await refusal(admin('peer-1').listHosts({}));
    assert.equal(byPeer.code, Code.PermissionDenied);
    assert.match(byPeer.rawMessage, /manager only/);
    const jobByPeer = await refusal(
      (async () => {
        for await (const _ of admin('peer-1').runJob({ kind: JobKind.FIND_TASK, tasks: [t] })) {
        }
      })(),
    );
    assert.equal(jobByPeer.code, Code.PermissionDenied);
    const manager = client('manager');
    const report = await refusal(manager.reportCommand({ commandId: 'x', state: CommandState.SUCCEEDED }));
    assert.equal(report.code, Code.PermissionDenied);
    const stream = new StreamReader(manager.announceHost({ host: hostOf('manager') }));
    assert.equal((await stream.ended())?.code, Code.PermissionDenied);
  });

  it('find_task asks every connected host and streams each answer; a host may answer only its own command', async () => {
    const t = task('find.bin');
    const reader = run({ jobId: 'job-find', kind: JobKind.FIND_TASK, tasks: [t], timeoutMs: 5000 });
    assert.equal(await plan(reader), 3);
    const commands = await Promise.all([seed1.nextCommand(), seed2.nextCommand(), peer1.nextCommand()]);
    for (const c of commands) {
      assert.equal(c.command.case, 'statTask');
      assert.equal(c.command.value?.taskId, t.taskId);
    }
    const forged = await refusal(peer1.answer(commands[0]!, { hasTask: true }));
    assert.equal(forged.code, Code.PermissionDenied);
    await seed1.answer(commands[0]!, { hasTask: true });
    await seed2.answer(commands[1]!, { hasTask: false });
    await peer1.answer(commands[2]!, { hasTask: true });
    const answers = new Map<string, boolean>();
    for (let i = 0; i < 3; i++) {
      const r = await result(reader);
      assert.equal(r.result?.state, CommandState.SUCCEEDED);
      answers.set(r.hostId, r.result!.hasTask);
    }
    assert.deepEqual(Object.fromEntries(answers), { 'seed-1': true, 'seed-2': false, 'peer-1': true });
    assert.equal(await reader.ended(), undefined);
  });

  it('preheat single_seed_peer commands only the seed the task hashes to, with the origin headers', async () => {
    const t = { ...task('single.bin'), headers: { authorization: 'Bearer origin-secret' } };
    const chosen = pickSeedHost(t.taskId, ['seed-1', 'seed-2'])!;
    const reader = run({
      jobId: 'job-single',
      kind: JobKind.PREHEAT,
      scope: JobScope.SINGLE_SEED_PEER,
      tasks: [t],
      timeoutMs: 5000,
    });
    assert.equal(await plan(reader), 1);
    const seed = chosen === 'seed-1' ? seed1 : seed2;
    const command = await seed.nextCommand();
    assert.equal(command.command.case, 'preheat');
    assert.deepEqual(command.command.value?.headers, t.headers);
    await seed.answer(command, {});
    const r = await result(reader);
    assert.equal(r.hostId, chosen);
    assert.equal(r.isSeed, true);
    assert.equal(await reader.ended(), undefined);
    const other = chosen === 'seed-1' ? seed2 : seed1;
    assert.equal(other.events.buffered, 0, 'the other seed received nothing');
  });

  it('reports a host that does not answer in time as timeout, and a host not connected as failed', async () => {
    const t = task('slow.bin');
    const reader = run({
      jobId: 'job-slow',
      kind: JobKind.PREHEAT,
      scope: JobScope.ALL_PEERS,
      hostIds: ['peer-1', 'peer-9'],
      tasks: [t],
      timeoutMs: 1000,
    });
    assert.equal(await plan(reader), 2);
    const missing = await result(reader);
    assert.equal(missing.hostId, 'peer-9');
    assert.equal(missing.result?.state, CommandState.FAILED);
    assert.match(missing.result!.error, /not connected/);
    const command = await peer1.nextCommand();
    assert.equal(command.command.case, 'preheat');
    const late = await result(reader, 5000);
    assert.equal(late.hostId, 'peer-1');
    assert.equal(late.result?.state, CommandState.TIMEOUT);
    // An answer after the timeout is accepted and ignored.
    await peer1.answer(command, {});
  });

  it('delete_task makes the scheduler forget the task, so nobody is sent to a parent that deleted it', async () => {
    const t = task('delete.bin');
    const requests = new AsyncQueue<MessageInitShape<typeof AnnouncePeerRequestSchema>>();
    const peerStream = new StreamReader<AnnouncePeerResponse>(peer1.client.announcePeer(requests));
    requests.push({
      message: {
        case: 'register',
        value: { ...t, peerId: `peer-1/${t.taskId}`, host: hostOf('peer-1') },
      },
    });
    // The peer waits for a seed it triggered; the task is in the graph.
    const deadline = Date.now() + 3000;
    while ((await peer1.client.statTask({ taskId: t.taskId }).catch(() => undefined))?.peerCount !== 1) {
      assert.ok(Date.now() < deadline, 'the peer never registered');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const reader = run({ jobId: 'job-delete', kind: JobKind.DELETE_TASK, tasks: [t], timeoutMs: 5000 });
    assert.equal(await plan(reader), 3);
    const commands = await Promise.all([seed1.nextCommand(), seed2.nextCommand(), peer1.nextCommand()]);
    assert.ok(commands.every((c) => c.command.case === 'deleteTask'));
    const gone = await refusal(peer1.client.statTask({ taskId: t.taskId }));
    assert.equal(gone.code, Code.NotFound);
    assert.equal(await peerStream.ended(), undefined, "the peer's stream ended quietly");
    await seed1.answer(commands[0]!, { hasTask: false });
    await seed2.answer(commands[1]!, { hasTask: false });
    await peer1.answer(commands[2]!, { hasTask: true });
    for (let i = 0; i < 3; i++) assert.equal((await result(reader)).result?.state, CommandState.SUCCEEDED);
    requests.close();
  });

  it('fails the commands of a host that disconnects', async () => {
    const leaving = new FakeHost('peer-2');
    await connected(4);
    const t = task('leave.bin');
    const reader = run({ jobId: 'job-leave', kind: JobKind.FIND_TASK, tasks: [t], timeoutMs: 10_000 });
    assert.equal(await plan(reader), 4);
    const commands = await Promise.all([seed1.nextCommand(), seed2.nextCommand(), peer1.nextCommand()]);
    await leaving.nextCommand();
    leaving.client.close();
    for (const [i, host] of [seed1, seed2, peer1].entries()) await host.answer(commands[i]!, {});
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await result(reader, 5000));
    const left = results.find((r) => r.hostId === 'peer-2');
    assert.equal(left?.result?.state, CommandState.FAILED);
    assert.match(left!.result!.error, /disconnected/);
  });

  it('refuses a job whose task id does not match its url', async () => {
    const t = task('mismatch.bin');
    const err = await refusal(
      (async () => {
        for await (const _ of admin().runJob({
          kind: JobKind.PREHEAT,
          scope: JobScope.ALL_SEED_PEERS,
          tasks: [{ ...t, url: 'https://origin.example/other.bin' }],
        })) {
        }
      })(),
    );
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, /does not match url/);
  });
});
