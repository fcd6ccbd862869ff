import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runWarren } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { corpusCases, validFiles, writeCorpus } from './corpus.js';
import { composeYml } from './corpus-documents.js';

/* `warren app pack` and `warren app validate`, run as the real executable. */

let root: string;

function releaseFolder(name: string, files: Array<[string, string | Buffer]>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, content] of files) writeFileSync(join(dir, file), content);
  return dir;
}

before(() => {
  root = tempDir('warren-app-cli-');
});
after(cleanupTempDirs);

test('pack writes a valid, reproducible release; validate accepts it', async () => {
  const dir = releaseFolder('notes', validFiles('icon.svg'));
  const out = join(root, 'out');
  mkdirSync(out);
  const first = await runWarren(['app', 'pack', dir, '-o', join(out, 'a.zip')]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /packed notes 1\.2\.0/);
  const second = await runWarren(['app', 'pack', dir, '-o', join(out, 'b.zip'), '--json']);
  assert.equal(second.code, 0, second.stderr);
  const a = readFileSync(join(out, 'a.zip'));
  assert.deepEqual(a, readFileSync(join(out, 'b.zip')), 'the same folder packs to the same bytes');
  assert.equal(JSON.parse(second.stdout).sha256, createHash('sha256').update(a).digest('hex'));
  assert.deepEqual(readdirSync(out).sort(), ['a.zip', 'b.zip'], 'no temp file left');

  const valid = await runWarren(['app', 'validate', join(out, 'a.zip')]);
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(
    valid.stdout,
    /^valid release notes 1\.2\.0 \(Notes, by Jane Doe\): 2 services, main web:8080/,
  );
  const json = await runWarren(['app', 'validate', join(out, 'a.zip'), '--json']);
  assert.equal(json.code, 0, json.stderr);
  const summary = JSON.parse(json.stdout);
  assert.equal(summary.ok, true);
  assert.equal(summary.app_id, 'notes');
  assert.equal(summary.icon, 'icon.svg');
  assert.deepEqual(summary.services, ['web', 'db']);
});

test('validate refuses a malicious release with exit 1, its code and where', async () => {
  const corpus = join(root, 'corpus');
  mkdirSync(corpus);
  const [file] = await writeCorpus(
    corpus,
    corpusCases().filter((c) => c.name === 'compose-ports-loopback'),
  );
  const text = await runWarren(['app', 'validate', file!.path]);
  assert.equal(text.code, 1);
  assert.equal(text.stdout, '');
  assert.match(text.stderr, /docker-compose\.yml: services\.web\.ports\[0\]: .*\[COMPOSE_PUBLISHED_PORT\]/);
  const json = await runWarren(['app', 'validate', file!.path, '--json']);
  assert.equal(json.code, 1);
  const body = JSON.parse(json.stdout);
  assert.equal(body.ok, false);
  assert.equal(body.error.code, 'COMPOSE_PUBLISHED_PORT');
  assert.equal(body.error.where, 'docker-compose.yml: services.web.ports[0]');
});

test('a refused pack leaves no file: a stray file in the folder, or an invalid release', async () => {
  const out = join(root, 'refused');
  mkdirSync(out);
  const stray = releaseFolder('stray', [...validFiles(), ['.env', 'SECRET=1']]);
  const strayRun = await runWarren(['app', 'pack', stray, '-o', join(out, 'stray.zip')]);
  assert.equal(strayRun.code, 1);
  assert.match(strayRun.stderr, /\.env: not part of a release.*\[ZIP_UNEXPECTED_FILE\]/);

  const privileged = releaseFolder('privileged', [
    ['app.yml', validFiles()[0]![1]],
    ['docker-compose.yml', composeYml({ privileged: true })],
  ]);
  const badRun = await runWarren(['app', 'pack', privileged, '-o', join(out, 'bad.zip'), '--json']);
  assert.equal(badRun.code, 1);
  assert.equal(JSON.parse(badRun.stdout).error.code, 'COMPOSE_FORBIDDEN_KEY');
  assert.deepEqual(readdirSync(out), [], 'neither the zip nor its temp file is left');
});
