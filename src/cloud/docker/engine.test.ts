import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWarrenError } from '../../core/errors.js';
import { DockerEngine } from './engine.js';

test('no engine at the socket: DOCKER_UNAVAILABLE, saying app installs need one', async () => {
  const engine = new DockerEngine({ socketPath: '/nonexistent/docker.sock' });
  try {
    await assert.rejects(
      () => engine.ping(),
      (err) =>
        isWarrenError(err, 'DOCKER_UNAVAILABLE') &&
        err.status === 503 &&
        err.message === 'app installs need a Docker Engine: cannot reach /nonexistent/docker.sock (ENOENT)',
    );
    await assert.rejects(
      () => engine.containerLogs('x', { follow: true }),
      /DOCKER_UNAVAILABLE|cannot reach/,
    );
  } finally {
    await engine.close();
  }
});
