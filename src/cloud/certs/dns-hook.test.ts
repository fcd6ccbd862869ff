import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cleanupTempDirs, tempDir } from '../../../test/helpers/tmp.js';
import { isWarrenError } from '../../core/errors.js';
import { runDnsHook } from './dns-hook.js';

const record = { name: '_acme-challenge.cloud.example.test', value: 'txt-value-123' };
after(() => cleanupTempDirs());

function hook(body: string): { path: string; out: string } {
  const dir = tempDir();
  const out = join(dir, 'out.json');
  const path = join(dir, 'hook.sh');
  writeFileSync(path, `#!/bin/sh\nOUT=${out}\n${body}\n`, { mode: 0o700 });
  return { path, out };
}

test('the record is in the environment, the action is the only argument, secrets stay out', async () => {
  process.env.WARREN_TEST_SECRET = 'do-not-pass';
  try {
    const h = hook(
      'printf \'%s|%s|%s|%s|%s|%s\' "$#" "$1" "$WARREN_DNS_NAME" "$WARREN_DNS_VALUE" "$WARREN_DOMAIN" "$WARREN_TEST_SECRET" > "$OUT"',
    );
    await runDnsHook(h.path, 'present', record, 'cloud.example.test', 5_000);
    assert.equal(readFileSync(h.out, 'utf8'), `1|present|${record.name}|${record.value}|cloud.example.test|`);
  } finally {
    delete process.env.WARREN_TEST_SECRET;
  }
});

test('a failing hook is reported with its output', async () => {
  const h = hook('echo "no such zone" >&2; exit 4');
  await assert.rejects(runDnsHook(h.path, 'cleanup', record, 'cloud.example.test', 5_000), (err: unknown) => {
    assert.ok(isWarrenError(err, 'ACME_HOOK_FAILED'));
    assert.match(
      (err as Error).message,
      /cleanup' for _acme-challenge\.cloud\.example\.test exited with status 4: no such zone/,
    );
    return true;
  });
});

test('a hook that hangs is killed at the timeout', async () => {
  const h = hook('sleep 30');
  const started = Date.now();
  await assert.rejects(
    runDnsHook(h.path, 'present', record, 'cloud.example.test', 300),
    /did not finish within 300 ms/,
  );
  assert.ok(Date.now() - started < 5_000);
});

test('a hook that does not exist is reported', async () => {
  await assert.rejects(
    runDnsHook('/nonexistent/hook', 'present', record, 'cloud.example.test', 5_000),
    /could not be started/,
  );
});
