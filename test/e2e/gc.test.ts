import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { PeerClient } from '../../src/cli/peer-client.js';
import { makeRandomFile } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, type PeerProcess } from './cluster.js';

const MIB = 1024 * 1024;

/** Opens a task's content stream and reads only its first chunk: the task stays "being read". */
async function holdOpen(peer: PeerProcess, taskId: string) {
  const client = new Client('http://localhost', { socketPath: peer.socket, bodyTimeout: 0 });
  const res = await client.request({ method: 'GET', path: `/v1/tasks/${taskId}/content` });
  const iterator = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let bytes = (await iterator.next()).value?.length ?? 0;
  return {
    /** Reads the rest and returns how many bytes the stream carried. */
    async finish(): Promise<number> {
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) bytes += r.value.length;
      await client.close();
      return bytes;
    },
  };
}

/* What must be shown 5: GC removes expired tasks, stops at the low watermark, never a task being read. */
describe('disk GC', () => {
  let origin: Origin;
  let dir: string;

  afterEach(async () => {
    await killAll();
    await origin?.close();
  });
  after(() => cleanupTempDirs());

  async function setup(env: NodeJS.ProcessEnv, files: number, size: number) {
    dir = tempDir('warren-gc-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    for (let i = 1; i <= files; i++) await makeRandomFile(join(dir, 'www', `f${i}.bin`), size);
    origin = await startOrigin({ dir: join(dir, 'www') });
    const cluster = await new Cluster(dir).init();
    const peer = await cluster.startPeer('peer-1', { env: { WARREN_GC__INTERVAL: '1h', ...env } });
    const ids: string[] = [];
    for (let i = 1; i <= files; i++) {
      const result = await cluster.get(peer, origin.url(`f${i}.bin`), join(dir, 'out', `f${i}.bin`));
      assert.equal(result.code, 0, result.stderr);
      ids.push(result.json!.taskId);
    }
    return { peer, ids, api: new PeerClient(peer.socket) };
  }

  async function taskIds(api: PeerClient): Promise<string[]> {
    const { tasks } = await api.json<{ tasks: { taskId: string }[] }>('GET', '/v1/tasks');
    return tasks.map((t) => t.taskId).sort();
  }

  it('above the high watermark removes least recently used tasks down to the low one, skipping a task being read', async () => {
    // 5 tasks of 18 MiB = 90 MiB in a 100 MiB quota: above 80%, down to at most 60%.
    const { peer, ids, api } = await setup({ WARREN_GC__DISK_QUOTA: '100MiB' }, 5, 18 * MIB);
    const reading = await holdOpen(peer, ids[0]!); // the least recently used task, in use
    const { removed } = await api.json<{ removed: string[] }>('POST', '/v1/gc');
    assert.deepEqual(removed.sort(), [ids[1]!, ids[2]!].sort(), 'the two least recently used idle tasks');
    assert.deepEqual(await taskIds(api), [ids[0]!, ids[3]!, ids[4]!].sort());
    assert.equal(await reading.finish(), 18 * MIB, 'the task being read was read whole');
    await api.close();
  });

  it('removes expired tasks, but not one being read', async () => {
    const { peer, ids, api } = await setup({ WARREN_GC__TASK_TTL: '1s' }, 2, 5 * MIB);
    await sleep(1500);
    const reading = await holdOpen(peer, ids[1]!);
    await sleep(1200); // opening the stream counted as an access: let it expire again
    const { removed } = await api.json<{ removed: string[] }>('POST', '/v1/gc');
    assert.deepEqual(removed, [ids[0]!]);
    assert.deepEqual(await taskIds(api), [ids[1]!]);
    assert.equal(await reading.finish(), 5 * MIB);
    await api.close();
  });
});
