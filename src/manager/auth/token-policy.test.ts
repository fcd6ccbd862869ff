import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkScopes, formatScopes, parseScopes, resolveExpiry } from './token-policy.js';

const DAY = 86_400_000;

test('checkScopes accepts subsets of read/job/cluster in canonical order, and enroll alone', () => {
  assert.deepEqual(checkScopes(['job', 'read', 'job']), { scopes: ['read', 'job'], enroll: false });
  assert.deepEqual(checkScopes(['enroll']), { scopes: ['enroll'], enroll: true });
});

test('checkScopes refuses empty, unknown and mixed enroll scope lists', () => {
  assert.throws(() => checkScopes([]), /at least one/);
  assert.throws(() => checkScopes(['read', 'admin']), /unknown scope 'admin'/);
  assert.throws(() => checkScopes(['enroll', 'read']), /cannot be combined/);
});

test('scopes round-trip through their stored form', () => {
  assert.deepEqual(parseScopes(formatScopes(['read', 'cluster'])), ['read', 'cluster']);
  assert.deepEqual(parseScopes('read bogus'), ['read']);
});

test('resolveExpiry takes a duration or an instant, within the maximum', () => {
  const now = Date.parse('2030-01-01T00:00:00.000Z');
  assert.equal(resolveExpiry({ expires_in: '30d' }, { maxMs: 365 * DAY }, now), '2030-01-31T00:00:00.000Z');
  assert.equal(
    resolveExpiry({ expires_at: '2030-06-01T00:00:00Z' }, { maxMs: 365 * DAY }, now),
    '2030-06-01T00:00:00.000Z',
  );
  assert.equal(
    resolveExpiry({}, { maxMs: 7 * DAY, defaultMs: DAY }, now),
    '2030-01-02T00:00:00.000Z',
    'the default applies only when the kind of token has one',
  );
});

test('resolveExpiry refuses a missing, doubled, past, malformed or too distant expiry', () => {
  const now = Date.parse('2030-01-01T00:00:00.000Z');
  const limits = { maxMs: 365 * DAY };
  assert.throws(() => resolveExpiry({}, limits, now), /needs an expiry/);
  assert.throws(
    () => resolveExpiry({ expires_in: '1d', expires_at: '2030-02-01T00:00:00Z' }, limits, now),
    /not both/,
  );
  assert.throws(() => resolveExpiry({ expires_at: '2029-12-31T00:00:00Z' }, limits, now), /in the future/);
  assert.throws(() => resolveExpiry({ expires_at: 'tomorrow' }, limits, now), /not an ISO-8601/);
  assert.throws(() => resolveExpiry({ expires_in: 'forever' }, limits, now), /expires_in/);
  assert.throws(() => resolveExpiry({ expires_in: '366d' }, limits, now), /at most 365 days/);
  assert.throws(
    () => resolveExpiry({ expires_in: '8d' }, { maxMs: 7 * DAY, defaultMs: DAY }, now),
    /at most 7 days/,
  );
});
