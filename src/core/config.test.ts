import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { envName, loadConfig } from './config.js';
import { isWarrenError } from './errors.js';

const schema = Type.Object({
  listen: Type.String({ default: '127.0.0.1:0' }),
  seed: Type.Boolean({ default: false }),
  labels: Type.Array(Type.String(), { default: [] }),
  upload: Type.Object(
    {
      rateLimit: Type.String({ default: '100MiB' }),
      concurrency: Type.Integer({ minimum: 1, default: 4 }),
    },
    { default: {} },
  ),
});

const dir = mkdtempSync(join(tmpdir(), 'warren-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(text: string): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

function failsWith(code: string, ...fragments: string[]) {
  return (err: unknown) => {
    assert.ok(isWarrenError(err, code), `expected ${code}, got ${String(err)}`);
    for (const fragment of fragments)
      assert.ok(err.message.includes(fragment), `'${err.message}' lacks '${fragment}'`);
    return true;
  };
}

describe('loadConfig layering', () => {
  test('schema defaults fill what no source sets', () => {
    assert.deepEqual(loadConfig(schema, { env: {} }), {
      listen: '127.0.0.1:0',
      seed: false,
      labels: [],
      upload: { rateLimit: '100MiB', concurrency: 4 },
    });
  });

  test('file < WARREN_* environment < flags', () => {
    const file = yamlFile('listen: 127.0.0.1:1000\nupload:\n  rateLimit: 10MiB\n  concurrency: 2\n');
    const env = { WARREN_LISTEN: '127.0.0.1:2000', WARREN_UPLOAD__RATE_LIMIT: '20MiB' };
    const flags = { listen: '127.0.0.1:3000' };
    assert.deepEqual(loadConfig(schema, { file, env: {} }).listen, '127.0.0.1:1000');
    const fromEnv = loadConfig(schema, { file, env });
    assert.equal(fromEnv.listen, '127.0.0.1:2000');
    assert.equal(fromEnv.upload.rateLimit, '20MiB');
    assert.equal(fromEnv.upload.concurrency, 2);
    const fromFlags = loadConfig(schema, { file, env, flags });
    assert.equal(fromFlags.listen, '127.0.0.1:3000');
    assert.equal(fromFlags.upload.rateLimit, '20MiB');
  });

  test('flags use dotted schema paths; undefined flags do not override', () => {
    const config = loadConfig(schema, {
      env: { WARREN_UPLOAD__CONCURRENCY: '6' },
      flags: { 'upload.rateLimit': '1GiB', 'upload.concurrency': undefined },
    });
    assert.equal(config.upload.rateLimit, '1GiB');
    assert.equal(config.upload.concurrency, 6);
  });

  test('environment strings are converted to the schema type; arrays split on commas', () => {
    const config = loadConfig(schema, {
      env: { WARREN_SEED: 'true', WARREN_UPLOAD__CONCURRENCY: '8', WARREN_LABELS: 'idc=a, zone=b' },
    });
    assert.equal(config.seed, true);
    assert.equal(config.upload.concurrency, 8);
    assert.deepEqual(config.labels, ['idc=a', 'zone=b']);
  });

  test('an empty environment variable is ignored', () => {
    assert.equal(loadConfig(schema, { env: { WARREN_LISTEN: '' } }).listen, '127.0.0.1:0');
  });
});

describe('loadConfig errors name the key', () => {
  test('an unknown top-level key in the file', () => {
    const file = yamlFile('listen: 127.0.0.1:1\nlisten_addr: 127.0.0.1:2\n');
    assert.throws(
      () => loadConfig(schema, { file, env: {} }),
      failsWith('CONFIG_UNKNOWN_KEY', "'listen_addr'", file),
    );
  });

  test('an unknown nested key in the file', () => {
    const file = yamlFile('upload:\n  ratelimit: 1MiB\n');
    assert.throws(
      () => loadConfig(schema, { file, env: {} }),
      failsWith('CONFIG_UNKNOWN_KEY', "'upload.ratelimit'", 'rateLimit'),
    );
  });

  test('an unknown flag', () => {
    assert.throws(
      () => loadConfig(schema, { env: {}, flags: { 'upload.speed': 1 } }),
      failsWith('CONFIG_UNKNOWN_KEY', "'upload.speed'", 'flags'),
    );
  });

  test('a value of the wrong type', () => {
    const file = yamlFile('upload:\n  concurrency: many\n');
    assert.throws(
      () => loadConfig(schema, { file, env: {} }),
      failsWith('CONFIG_INVALID', "'upload.concurrency'"),
    );
  });

  test('a bad value from the environment', () => {
    assert.throws(
      () => loadConfig(schema, { env: { WARREN_UPLOAD__CONCURRENCY: '0' } }),
      failsWith('CONFIG_INVALID', "'upload.concurrency'"),
    );
  });

  test('a file that is not YAML, or not a mapping, or missing', () => {
    assert.throws(
      () => loadConfig(schema, { file: yamlFile('listen: [1,\n'), env: {} }),
      failsWith('CONFIG_INVALID'),
    );
    assert.throws(
      () => loadConfig(schema, { file: yamlFile('- a\n- b\n'), env: {} }),
      failsWith('CONFIG_INVALID'),
    );
    assert.throws(
      () => loadConfig(schema, { file: join(dir, 'missing.yaml'), env: {} }),
      failsWith('CONFIG_UNREADABLE', 'missing.yaml'),
    );
  });

  test('an empty file is an empty configuration', () => {
    assert.equal(loadConfig(schema, { file: yamlFile(''), env: {} }).listen, '127.0.0.1:0');
  });
});

describe('envName', () => {
  const cases: [string[], string][] = [
    [['listen'], 'WARREN_LISTEN'],
    [['upload', 'rateLimit'], 'WARREN_UPLOAD__RATE_LIMIT'],
    [['gc', 'highWatermark'], 'WARREN_GC__HIGH_WATERMARK'],
    [['tlsDir'], 'WARREN_TLS_DIR'],
  ];
  for (const [path, name] of cases) {
    test(`${path.join('.')} -> ${name}`, () => assert.equal(envName(path), name));
  }
});
