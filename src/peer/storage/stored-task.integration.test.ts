import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../core/log.js';
import { MIB } from '../../core/task.js';
import { TaskStore } from './task-store.js';

const id = 'a'.repeat(64);
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('TaskStore', () => {
  it('a task asked for again while its old folder is being removed gets a folder of its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const store = new TaskStore(dir, silentLogger());
    await store.load();
    const init = { taskId: id, url: 'http://o/x', tag: '', application: '' };
    const old = await store.getOrCreate(init);
    await old.setShape(10 * MIB, 4 * MIB);
    // A failed blob is removed while a client already asks for it again (the mirror's retries).
    const [, again] = await Promise.all([store.remove(id, { force: true }), store.getOrCreate(init)]);
    assert.notEqual(again, old);
    await again.saveMeta(); // would fail with ENOENT had the old removal deleted the new folder
    assert.equal(JSON.parse(await readFile(join(dir, id, 'meta.json'), 'utf8')).taskId, id);
    assert.equal(store.get(id), again);
    await store.close();
  });

  it('keeps verified pieces across a restart, as resumed until re-checked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const store = new TaskStore(dir, silentLogger());
    await store.load();
    const task = await store.getOrCreate({ taskId: id, url: 'http://o/x', tag: '', application: '' });
    await task.setShape(10 * MIB, 4 * MIB);
    const piece1 = randomBytes(4 * MIB);
    task.setDigests([[1, createHash('sha256').update(piece1).digest('hex')]]);
    await task.writePiece(1, piece1);
    await task.saveMeta();
    await store.close();

    const again = new TaskStore(dir, silentLogger());
    await again.load();
    const reloaded = again.get(id)!;
    assert.equal(reloaded.pieces.held, 0, 'nothing counts before it is re-checked');
    assert.deepEqual([...reloaded.resumed], [1]);
    assert.deepEqual(await reloaded.readPiece(1), piece1);
    await again.close();
  });

  it('refuses to remove a task in use, and removes its files otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const store = new TaskStore(dir, silentLogger());
    await store.load();
    const task = await store.getOrCreate({ taskId: id, url: 'http://o/x', tag: '', application: '' });
    await task.setShape(MIB, 4 * MIB);
    const release = task.acquire();
    await assert.rejects(store.remove(id), { code: 'TASK_IN_USE' });
    release();
    await store.remove(id);
    await assert.rejects(readFile(join(dir, id, 'meta.json')), { code: 'ENOENT' });
  });

  it('saves metadata from concurrent callers without racing on its temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const store = new TaskStore(dir, silentLogger());
    await store.load();
    const task = await store.getOrCreate({ taskId: id, url: 'http://o/x', tag: '', application: '' });
    await task.setShape(8 * MIB, 4 * MIB);
    await Promise.all(Array.from({ length: 20 }, () => task.saveMeta()));
    const meta = JSON.parse(await readFile(join(dir, id, 'meta.json'), 'utf8'));
    assert.equal(meta.contentLength, 8 * MIB);
    await store.close();
  });

  it('rejects a piece of the wrong size', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const store = new TaskStore(dir, silentLogger());
    await store.load();
    const task = await store.getOrCreate({ taskId: id, url: 'http://o/x', tag: '', application: '' });
    await task.setShape(5 * MIB, 4 * MIB);
    await assert.rejects(task.writePiece(1, Buffer.alloc(4 * MIB)), { code: 'PIECE_SIZE' });
    await store.close();
  });
});
