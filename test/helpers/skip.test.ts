import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findCommand, lookupUser, requireCommand } from './skip.js';

const MISSING = 'warren-no-such-command-xyz';

function withCi<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.CI;
  if (value === undefined) delete process.env.CI;
  else process.env.CI = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
}

test('findCommand finds installed tools, including those in sbin', () => {
  assert.match(findCommand('sh') ?? '', /\/sh$/);
  assert.equal(findCommand(MISSING), undefined);
});

test('a missing tool is a skip reason outside CI and an error under CI', () => {
  assert.equal(
    withCi(undefined, () => requireCommand('sh')),
    undefined,
  );
  assert.match(withCi(undefined, () => requireCommand(MISSING)) ?? '', /not installed/);
  assert.throws(() => withCi('true', () => requireCommand(MISSING)), /CI must not skip/);
});

test('lookupUser reads /etc/passwd', () => {
  assert.deepEqual(lookupUser('root'), { uid: 0, gid: 0 });
  assert.equal(lookupUser('warren-no-such-user'), undefined);
});
