import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerInfo } from '../docker/types.js';
import { appStatus } from './status.js';

function info(
  status: string,
  extra: { health?: string; exit?: number; restart?: string } = {},
): ContainerInfo {
  return {
    Id: `id-${status}`,
    Name: '/x',
    Image: 'sha256:x',
    State: {
      Status: status,
      Running: status === 'running',
      Restarting: status === 'restarting',
      ExitCode: extra.exit ?? 0,
      ...(extra.health ? { Health: { Status: extra.health as 'healthy' } } : {}),
    },
    Config: { Labels: {}, Image: 'x' },
    HostConfig: { RestartPolicy: { Name: extra.restart ?? 'unless-stopped' } },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}

const state = (containers: Record<string, ContainerInfo>, services = Object.keys(containers)) =>
  appStatus('a', services, new Map(Object.entries(containers))).state;

test('the app state from its containers', () => {
  assert.equal(state({}, ['web']), 'missing');
  assert.equal(state({ web: info('running'), db: info('running', { health: 'healthy' }) }), 'running');
  assert.equal(state({ web: info('running'), db: info('running', { health: 'starting' }) }), 'starting');
  assert.equal(state({ web: info('running'), db: info('running', { health: 'unhealthy' }) }), 'unhealthy');
  assert.equal(state({ web: info('exited', { exit: 137 }), db: info('created') }), 'stopped');
  assert.equal(state({ web: info('running'), db: info('exited', { exit: 1 }) }), 'partial');
  assert.equal(state({ web: info('running'), db: info('restarting') }), 'unhealthy');
  assert.equal(state({ web: info('running') }, ['web', 'db']), 'partial');
  // A one-shot job that finished does not make the app partial.
  assert.equal(state({ web: info('running'), job: info('exited', { exit: 0, restart: 'no' }) }), 'running');
});

test('each service: state, health, exit code; a missing one is listed', () => {
  const status = appStatus('a', ['web', 'db'], new Map([['web', info('exited', { exit: 3 })]]));
  assert.deepEqual(status.services, [
    { service: 'web', containerId: 'id-exited', state: 'exited', health: 'none', exitCode: 3 },
    { service: 'db', containerId: null, state: 'missing', health: 'none', exitCode: null },
  ]);
});
