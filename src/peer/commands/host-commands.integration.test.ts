import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { silentLogger } from '../../core/log.js';
import { MIB, taskIdFor } from '../../core/task.js';
import {
  type CommandResultSchema,
  CommandState,
  HostCommandSchema,
} from '../../protocol/gen/scheduler_pb.js';
import { TaskStore } from '../storage/task-store.js';
import { HostCommands, heldBytes, MAX_COMMANDS_IN_FLIGHT } from './host-commands.js';

type Result = MessageInitShape<typeof CommandResultSchema>;

const url = 'http://origin.example/file.bin';
const taskId = taskIdFor({ url });
let dir: string;
let store: TaskStore;
const removed: string[] = [];
const cancelled: string[] = [];
/** Downloads the test holds open: the preheat answers when the test resolves them. */
const downloads: Array<{ taskId: string; finish: () => void }> = [];

function commands() {
  return new HostCommands({
    log: silentLogger(),
    store,
    download: (request) => {
      let finish!: () => void;
      const done = new Promise<void>((resolve) => {
        finish = resolve;
      });
      downloads.push({ taskId: request.taskId, finish });
      return { done };
    },
    cancelDownload: async (id) => {
      cancelled.push(id);
    },
    removed: (id) => removed.push(id),
  });
}

/** Sends one command and resolves with its answer. */
function send(
  handler: HostCommands,
  command: MessageInitShape<typeof HostCommandSchema>['command'],
  commandId = 'c1',
): Promise<Result> {
  return new Promise((resolve) => {
    handler.handle(create(HostCommandSchema, { commandId, command }), async (result) => resolve(result));
  });
}

/** A stored task of 10 MiB in 4 MiB pieces, with `pieces` written. */
async function storedTask(pieces: number[]) {
  const task = await store.getOrCreate({ taskId, url, tag: '', application: '' });
  await task.setShape(10 * MIB, 4 * MIB);
  for (const n of pieces) {
    const { start, end } = task.range(n);
    await task.writePiece(n, randomBytes(end - start));
  }
  return task;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warren-commands-'));
  store = new TaskStore(join(dir, 'tasks'), silentLogger());
  await store.load();
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('host commands', () => {
  it('stat says whether the task is held and how many verified bytes', async () => {
    const handler = commands();
    const none = await send(handler, { case: 'statTask', value: { taskId } });
    assert.equal(none.state, CommandState.SUCCEEDED);
    assert.equal(none.hasTask, false);
    const task = await storedTask([2]); // the last piece: 2 MiB
    const partial = await send(handler, { case: 'statTask', value: { taskId, url } });
    assert.equal(partial.hasTask, true);
    assert.equal(partial.complete, false);
    assert.equal(partial.bytes, BigInt(2 * MIB));
    assert.equal(partial.contentLength, BigInt(10 * MIB));
    assert.equal(heldBytes(task), 2 * MIB);
  });

  it('delete waits for a reader to finish, then removes the task and tells the scheduler', async () => {
    const task = await storedTask([0, 1]);
    const release = task.acquire(); // an upload in progress
    const handler = commands();
    let answered = false;
    const answer = send(handler, { case: 'deleteTask', value: { taskId } }).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answered, false, 'the delete waited for the reader');
    assert.ok(existsSync(task.dir));
    release();
    const result = await answer;
    assert.equal(result.state, CommandState.SUCCEEDED);
    assert.equal(result.hasTask, true);
    assert.equal(store.get(taskId), undefined);
    assert.equal(existsSync(task.dir), false);
    assert.deepEqual(cancelled.at(-1), taskId, 'a running download was cancelled first');
    assert.deepEqual(removed.at(-1), taskId);
    const again = await send(handler, { case: 'deleteTask', value: { taskId } });
    assert.equal(again.hasTask, false);
  });

  it('preheat answers once the download is done, with what is held', async () => {
    const handler = commands();
    const seen: { result?: Result } = {};
    const answer = send(handler, { case: 'preheat', value: { taskId, url } }).then((r) => {
      seen.result = r;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal('result' in seen, false, 'no answer before the download is done');
    await storedTask([0, 1, 2]);
    downloads.find((d) => d.taskId === taskId)!.finish();
    await answer;
    assert.equal(seen.result?.state, CommandState.SUCCEEDED);
    assert.equal(seen.result?.complete, true);
    assert.equal(seen.result?.bytes, BigInt(10 * MIB));
  });

  it('refuses a task id that is not its url, and commands beyond its bound', async () => {
    const handler = commands();
    const forged = await send(handler, { case: 'preheat', value: { taskId: 'b'.repeat(64), url } });
    assert.equal(forged.state, CommandState.REFUSED);
    assert.match(forged.error ?? '', /does not match/);
    const other = (n: number) => {
      const u = `http://origin.example/${n}.bin`;
      return { taskId: taskIdFor({ url: u }), url: u };
    };
    downloads.length = 0;
    const held = Array.from({ length: MAX_COMMANDS_IN_FLIGHT }, (_, n) =>
      send(handler, { case: 'preheat', value: other(n) }, `held-${n}`),
    );
    const refused = await send(handler, { case: 'preheat', value: other(99) }, 'over');
    assert.equal(refused.state, CommandState.REFUSED);
    assert.match(refused.error ?? '', /already runs 16 commands/);
    for (const d of downloads) d.finish();
    for (const r of await Promise.all(held)) assert.equal(r.state, CommandState.SUCCEEDED);
    assert.equal(handler.running, 0);
  });
});
