import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCompose } from './compose.js';
import { parseImageReference } from './compose-fields.js';
import { ReleaseError } from './types.js';

const DIGEST = `sha256:${'0'.repeat(64)}`;

function refusal(doc: unknown, main = 'web'): { code: string; where: string } | undefined {
  try {
    checkCompose(doc, main);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ReleaseError, String(err));
    return { code: err.code, where: err.where };
  }
}

const web = (patch: Record<string, unknown> = {}) => ({ services: { web: { image: 'app:1.0', ...patch } } });

test('parses image references by the distribution grammar', () => {
  assert.deepEqual(parseImageReference('nginx:1.27'), { name: 'nginx', tag: '1.27' });
  assert.deepEqual(parseImageReference('localhost:5000/team/app:v2'), {
    name: 'localhost:5000/team/app',
    tag: 'v2',
  });
  assert.deepEqual(parseImageReference(`app@${DIGEST}`), { name: 'app', digest: DIGEST });
  assert.deepEqual(parseImageReference(`app:1@${DIGEST}`), { name: 'app', tag: '1', digest: DIGEST });
  assert.deepEqual(parseImageReference('localhost:5000/app'), { name: 'localhost:5000/app' });
  for (const bad of ['', 'UPPER:1', 'app:', 'app@sha256:xyz', 'a//b:1', '-app:1', 'app:1 ', '$' + '{X}:1']) {
    assert.equal(parseImageReference(bad), undefined, bad);
  }
});

test('accepts a small allowlisted file and refuses the rest, naming the key', () => {
  assert.equal(
    refusal({
      version: '3.8',
      services: {
        web: {
          image: `app@${DIGEST}`,
          entrypoint: '/bin/app',
          working_dir: '/srv',
          read_only: true,
          init: true,
          stop_signal: 'SIGTERM',
          stop_grace_period: '1m30s',
          volumes: ['data:/data:ro', { type: 'tmpfs', target: '/tmp', tmpfs: { size: 1000 } }],
          depends_on: ['worker'],
          healthcheck: { test: 'curl -f http://localhost/', start_period: '5s', disable: false },
        },
        worker: { image: 'app:1.0', restart: 'on-failure:3', user: 1000 },
      },
      volumes: { data: null },
    }),
    undefined,
  );
  assert.deepEqual(refusal(web({ cap_add: ['ALL'] })), {
    code: 'COMPOSE_FORBIDDEN_KEY',
    where: 'docker-compose.yml: services.web.cap_add',
  });
  assert.deepEqual(refusal(web({ ports: ['127.0.0.1:80:80'] })), {
    code: 'COMPOSE_PUBLISHED_PORT',
    where: 'docker-compose.yml: services.web.ports[0]',
  });
  assert.deepEqual(refusal(web({ volumes: ['data:/data'] })), {
    code: 'COMPOSE_INVALID',
    where: 'docker-compose.yml: services.web.volumes[0]',
  });
  assert.equal(refusal(web({ healthcheck: { test: 'x', interval: 'soon' } }))?.code, 'COMPOSE_INVALID');
  assert.equal(refusal(web({ depends_on: ['web'] }))?.code, 'COMPOSE_INVALID');
  assert.equal(refusal(web({ environment: { 'BAD NAME': 1 } }))?.code, 'COMPOSE_INVALID');
  assert.equal(refusal(web({ environment: ['A=1', 'B'] })), undefined);
  assert.equal(refusal(web({ command: 'cat /var/run/docker.sock' }))?.code, 'COMPOSE_DOCKER_SOCKET');
  assert.equal(
    refusal(web({ volumes: [{ type: 'volume', target: '/x', bind: { propagation: 'shared' } }] }))?.code,
    'COMPOSE_BIND_MOUNT',
  );
  assert.equal(
    refusal(web({ volumes: [{ type: 'npipe', source: 'x', target: '/x' }] }))?.code,
    'COMPOSE_BIND_MOUNT',
  );
  assert.equal(refusal(web({ volumes: ['/data/../../etc'] }))?.code, 'COMPOSE_INVALID');
  assert.equal(refusal({ services: { web: { build: '.' } } })?.code, 'COMPOSE_FORBIDDEN_KEY');
  assert.equal(refusal({ services: { web: { command: 'x' } } })?.code, 'COMPOSE_INVALID');
  assert.equal(refusal({ services: {} })?.code, 'COMPOSE_INVALID');
  assert.equal(refusal(['services'])?.code, 'COMPOSE_INVALID');
  assert.equal(refusal(web(), 'db')?.code, 'COMPOSE_MAIN_SERVICE_MISSING');
  assert.equal(refusal({ services: { Web: { image: 'app:1' } } }, 'Web')?.code, 'COMPOSE_INVALID');
});
