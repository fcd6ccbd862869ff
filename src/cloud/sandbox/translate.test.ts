import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationNanos, environment, exposedPorts, restartPolicy, splitCommand } from './translate.js';

test('durations: compose grammar to nanoseconds', () => {
  assert.equal(durationNanos('30s', 'x'), 30e9);
  assert.equal(durationNanos('1m30s', 'x'), 90e9);
  assert.equal(durationNanos('1h2m3s4ms5us6ns', 'x'), 3723e9 + 4e6 + 5e3 + 6);
  assert.equal(durationNanos('1.5s', 'x'), 1.5e9);
  assert.throws(() => durationNanos('30', 'x'), /not a duration/);
  assert.throws(() => durationNanos('s', 'x'), /not a duration/);
});

test('commands split like a shell does, without running one', () => {
  assert.deepEqual(splitCommand('  a  b\tc ', 'x'), ['a', 'b', 'c']);
  assert.deepEqual(splitCommand(`sh -c 'echo "$HOME"; exit 1'`, 'x'), ['sh', '-c', 'echo "$HOME"; exit 1']);
  assert.deepEqual(splitCommand('a "b \\"c\\" \\n" d\\ e', 'x'), ['a', 'b "c" \\n', 'd e']);
  assert.deepEqual(splitCommand(`'' ""`, 'x'), ['', '']);
  assert.throws(() => splitCommand(`a 'b`, 'x'), /unterminated quote/);
});

test('environment: values as text, host variables never passed', () => {
  assert.deepEqual(environment({ A: 'x', B: 1, C: true, D: null }), ['A=x', 'B=1', 'C=true']);
  assert.deepEqual(environment(['A=x', 'B', 'C=']), ['A=x', 'C=']);
  assert.deepEqual(environment(undefined), []);
});

test('restart policies and exposed ports', () => {
  assert.deepEqual(restartPolicy(undefined), { Name: 'unless-stopped', MaximumRetryCount: 0 });
  assert.deepEqual(restartPolicy('on-failure:5'), { Name: 'on-failure', MaximumRetryCount: 5 });
  assert.deepEqual(restartPolicy('always'), { Name: 'always', MaximumRetryCount: 0 });
  assert.deepEqual(exposedPorts(['80', '53/udp', '7000-7001'], 8080, 'x'), [
    '8080/tcp',
    '80/tcp',
    '53/udp',
    '7000/tcp',
    '7001/tcp',
  ]);
  assert.throws(() => exposedPorts(['9-1'], undefined, 'x'), /not a port/);
});
