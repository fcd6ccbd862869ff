import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_RELEASE_LIMITS, ReleaseError } from '../../src/core/release/types.js';
import { validateRelease, validateReleaseCounting } from '../../src/core/release/validate.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { type CorpusFile, corpusCases, slipTargets, writeCorpus } from './corpus.js';

/*
 * The release corpus through the real validator: every malicious release is
 * refused with its code, after bounded work (bytes inflated, memory), and
 * nothing lands outside the corpus folder; every valid one is accepted with
 * its manifest.
 */

let root: string;
let dir: string;
let files: CorpusFile[];

before(async () => {
  root = tempDir('warren-release-corpus-');
  // One level down, so that `../x` entries would land inside `root`, where the test can look.
  dir = join(root, 'corpus');
  mkdirSync(dir);
  files = await writeCorpus(dir);
});
after(cleanupTempDirs);

const cases = corpusCases();
const MIB = 1024 * 1024;

describe('malicious releases are refused with their code', () => {
  for (const c of cases.filter((c) => c.expect !== 'valid')) {
    test(`${c.name} → ${c.expect}`, async () => {
      const file = files.find((f) => f.name === c.name)!;
      const stats = { inflatedBytes: 0 };
      const err = await validateReleaseCounting(file.path, file.limits, stats).then(
        () => assert.fail(`${c.name} was accepted`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ReleaseError, `${c.name}: ${String(err)}`);
      assert.equal(err.code, c.expect, `${c.name}: ${err.message}`);
      assert.ok(err.where.length > 0 && err.message.startsWith(err.where), 'the message says where');
      // Bounded work whatever the file claims: never more than the total limit inflated…
      assert.ok(stats.inflatedBytes <= DEFAULT_RELEASE_LIMITS.maxTotalBytes, `${stats.inflatedBytes} bytes`);
      // …and for bombs, no more than the case allows (0: refused from the headers and layout alone).
      if (c.maxInflatedBytes !== undefined) {
        assert.ok(
          stats.inflatedBytes <= c.maxInflatedBytes,
          `${c.name} inflated ${stats.inflatedBytes} bytes, more than ${c.maxInflatedBytes}`,
        );
      }
    });
  }
});

describe('valid releases are accepted', () => {
  for (const c of cases.filter((c) => c.expect === 'valid')) {
    test(c.name, async () => {
      const file = files.find((f) => f.name === c.name)!;
      const release = await validateRelease(file.path);
      const bytes = readFileSync(file.path);
      assert.equal(release.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(release.zipBytes, bytes.length);
      assert.equal(release.manifest.id, 'notes');
      assert.equal(release.manifest.mainService, 'web');
      assert.equal(release.manifest.internalPort, 8080);
      assert.equal(release.manifest.healthCheckPath, '/healthz');
      assert.deepEqual(Object.keys(release.compose['services'] as object), ['web', 'db']);
      assert.match(release.composeYaml, /^services:/);
      const icon = c.name.includes('png') ? 'icon.png' : c.name.includes('svg') ? 'icon.svg' : undefined;
      assert.equal(release.manifest.icon, icon);
    });
  }
});

test('a pre-release version with build metadata is kept as written', async () => {
  const release = await validateRelease(join(dir, 'valid-digest-stored.zip'));
  assert.equal(release.manifest.version, '2.0.0-rc.1+build.7');
});

test('every bomb is refused in bounded memory', async () => {
  const bombs = files.filter((f) => f.kind === 'bomb');
  assert.ok(bombs.length >= 5);
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  for (let round = 0; round < 3; round++) {
    for (const bomb of bombs) {
      await assert.rejects(validateRelease(bomb.path, bomb.limits), ReleaseError);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  }
  // 100 MiB (and 250 MiB) bombs: inflating any of them would show here.
  assert.ok(peak - baseline < 48 * MIB, `RSS grew by ${((peak - baseline) / MIB).toFixed(1)} MiB`);
});

test('raising the header-based limits does not let a lying bomb through: bytes are counted', async () => {
  const stats = { inflatedBytes: 0 };
  await assert.rejects(
    validateReleaseCounting(join(dir, 'bomb-header-lies.zip'), { maxRatio: 1e9 }, stats),
    (err: unknown) => err instanceof ReleaseError && err.code === 'ZIP_BOMB',
  );
  assert.ok(stats.inflatedBytes <= 4096, `${stats.inflatedBytes}`);
});

test('a zip over the size limit is refused before it is read', async () => {
  await assert.rejects(
    validateRelease(join(dir, 'valid-basic.zip'), { maxZipBytes: 100 }),
    (err: unknown) => err instanceof ReleaseError && err.code === 'ZIP_TOO_LARGE',
  );
});

test('a missing file and a folder are refused as unreadable', async () => {
  for (const path of [join(root, 'missing.zip'), root]) {
    await assert.rejects(
      validateRelease(path),
      (err: unknown) => err instanceof ReleaseError && err.code === 'RELEASE_UNREADABLE',
    );
  }
});

test('nothing was written: the corpus folder holds only the corpus, no slip target exists', () => {
  const names = readdirSync(dir).sort();
  assert.deepEqual(names, files.map((f) => `${f.name}.zip`).sort());
  assert.deepEqual(readdirSync(root), ['corpus']);
  for (const target of slipTargets(dir)) assert.equal(existsSync(target), false, target);
});
