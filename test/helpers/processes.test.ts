import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { killAll, runWarren, spawnWarren, stderrOf, waitForJsonLine } from './processes.js';
import { lookupUser, requireRoot, requireUser } from './skip.js';
import { cleanupTempDirs, tempDir } from './tmp.js';

describe('processes helper', () => {
  after(async () => {
    await killAll();
    cleanupTempDirs();
  });

  test('runWarren runs bin/warren to its end and returns its output', async () => {
    const result = await runWarren(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), '0.1.0');
  });

  test('a failing command reports its exit code and stderr', async () => {
    const result = await runWarren(['ca', 'issue', '--role', 'bogus', '--name', 'x', '--ca-dir', tempDir()]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /BAD_ROLE/);
  });

  test('runWarren runs in the given folder', async () => {
    const dir = tempDir();
    const result = await runWarren(['ca', 'init'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(existsSync(join(dir, 'warren-data', 'ca', 'ca.crt')));
  });

  test('waitForJsonLine rejects with stderr when the process exits first', async () => {
    const child = spawnWarren(['no-such-command']);
    await assert.rejects(waitForJsonLine(child, 60_000), /exited .*stderr:\n.*unknown command/s);
    assert.match(stderrOf(child), /unknown command/);
  });

  const skip = requireRoot() ?? requireUser('nobody');
  test('spawnWarren can run as another system user', { skip }, async () => {
    const nobody = lookupUser('nobody')!;
    const result = await runWarren(['--version'], { uid: nobody.uid, gid: nobody.gid, cwd: '/' });
    assert.equal(result.code, 0, result.stderr);
  });
});
