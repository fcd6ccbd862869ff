import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { corruptFile, makeRandomFile, sha256File } from './files.js';
import { cleanupTempDirs, tempDir } from './tmp.js';

after(() => cleanupTempDirs());

test('makeRandomFile is deterministic per seed and reports the right digest', async () => {
  const dir = tempDir();
  const size = 3 * 1024 * 1024 + 65_537;
  const a = await makeRandomFile(join(dir, 'a'), size, 'seed');
  const b = await makeRandomFile(join(dir, 'b'), size, 'seed');
  const c = await makeRandomFile(join(dir, 'c'), size, 'other');
  assert.equal(statSync(a.path).size, size);
  assert.equal(a.sha256, b.sha256);
  assert.notEqual(a.sha256, c.sha256);
  assert.equal(a.sha256, createHash('sha256').update(readFileSync(a.path)).digest('hex'));
  assert.equal(await sha256File(a.path), a.sha256);
  // No repeated blocks: two 1 MiB chunks differ.
  const bytes = readFileSync(a.path);
  assert.ok(!bytes.subarray(0, 1 << 20).equals(bytes.subarray(1 << 20, 2 << 20)));
});

test('makeRandomFile writes empty and tiny files', async () => {
  const dir = tempDir();
  const empty = await makeRandomFile(join(dir, 'e'), 0);
  assert.equal(statSync(empty.path).size, 0);
  assert.equal(empty.sha256, createHash('sha256').digest('hex'));
  assert.equal(statSync((await makeRandomFile(join(dir, 't'), 1)).path).size, 1);
});

test('corruptFile flips exactly the bytes asked', async () => {
  const dir = tempDir();
  const file = await makeRandomFile(join(dir, 'f'), 4096);
  const before = readFileSync(file.path);
  await corruptFile(file.path, 100, 3);
  const changed = readFileSync(file.path);
  for (let i = 0; i < before.length; i++) {
    const flipped = i >= 100 && i < 103;
    assert.equal(changed[i], flipped ? before[i]! ^ 0xff : before[i], `byte ${i}`);
  }
  await assert.rejects(corruptFile(file.path, 4095, 2), /cannot corrupt/);
});
