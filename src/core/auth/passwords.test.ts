import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './passwords.js';

test('passwords are hashed with argon2id and verified', async () => {
  const phc = await hashPassword('a long enough password');
  assert.match(phc, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword(phc, 'a long enough password'), true);
  assert.equal(await verifyPassword(phc, 'a long enough passwore'), false);
});

test('an unknown user (no hash) or a malformed hash is a refusal, never an exception', async () => {
  assert.equal(await verifyPassword(undefined, 'whatever it is'), false);
  assert.equal(await verifyPassword('not a PHC string', 'whatever it is'), false);
});

test('an unknown user costs about as long as a real verification', async () => {
  const phc = await hashPassword('a long enough password');
  await verifyPassword(undefined, 'warm up the dummy hash');
  const time = async (fn: () => Promise<unknown>) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 3; i++) await fn();
    return Number(process.hrtime.bigint() - start);
  };
  const known = await time(() => verifyPassword(phc, 'wrong password!'));
  const unknown = await time(() => verifyPassword(undefined, 'wrong password!'));
  // Same argon2 parameters; a missing hash must not answer in a fraction of the time.
  assert.ok(unknown > known / 3, `unknown ${unknown} ns vs known ${known} ns`);
});

test('the policy wants 12 to 1024 characters', () => {
  assert.throws(() => checkPasswordPolicy('short'), /at least 12/);
  assert.throws(() => checkPasswordPolicy('x'.repeat(1025)), /at most 1024/);
  checkPasswordPolicy('twelve chars');
});
