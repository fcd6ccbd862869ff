import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { APP_ID, type CloudStack, PAGE, stackSkip, startCloudStack } from './helpers-stack.js';
import { CAPS, INSTANCE_ID, type TestCloud } from './helpers-stack-cloud.js';

/*
 * Issue 6, installing an app: the store's signed index verified, the release
 * fetched THROUGH THE LOCAL PEER by its digest and verified again here, its
 * image pulled through the peer's registry mirror and loaded into Docker
 * (which never pulls anything itself), the sandbox created and started, and
 * the gateway's route answering. Then stop, start, logs and uninstall
 * keeping the data. All real: store, scheduler, seed peer and peer,
 * docker-registry, dockerd.
 */

const skip = stackSkip();

async function httpGet(host: string, port: number): Promise<string | undefined> {
  try {
    const res = await request(`http://${host}:${port}/`, { headersTimeout: 3000, bodyTimeout: 3000 });
    return await res.body.text();
  } catch {
    return undefined;
  }
}

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} did not happen in ${timeoutMs} ms`);
}

describe('installing an app through the peer', { skip, timeout: 600_000 }, () => {
  let stack: CloudStack;
  let cloud: TestCloud;
  let sha256: string;

  before(async () => {
    stack = await startCloudStack();
    cloud = await stack.newCloud();
    ({ sha256 } = await stack.publish('1.0.0'));
  });

  after(async () => {
    await cloud?.close();
    await stack?.stop();
    cleanupTempDirs();
  });

  it("lists the store's apps from the index verified with the pinned store key", async () => {
    const res = await cloud.call('GET', '/api/v1/store/apps');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.apps.length, 1);
    const app = res.body.apps[0];
    assert.equal(app.id, APP_ID);
    assert.equal(app.official, false);
    assert.deepEqual(app.versions, [{ version: '1.0.0', sha256, yanked: false }]);
    assert.equal(app.installed_version, null);
    assert.match(app.maintainer_key_id, /^[0-9a-f]{16}$/);
    const state = await cloud.database.db.selectFrom('store_state').selectAll().executeTakeFirstOrThrow();
    assert.equal(Number(state.serial), res.body.serial, 'the accepted serial is kept');
  });

  it('shows what a release asks for, from the release fetched through the peer and validated here', async () => {
    const res = await cloud.call('GET', `/api/v1/store/apps/${APP_ID}/versions/1.0.0`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.manifest, {
      id: APP_ID,
      name: 'Hello',
      version: '1.0.0',
      description: 'A page served by busybox httpd.',
      maintainer: 'alice',
    });
    assert.equal(res.body.official, false);
    assert.deepEqual(res.body.permissions, {
      services: [{ name: 'web', image: stack.imageRef }],
      volumes: ['data'],
      main_service: 'web',
      port: 8080,
      resources: { memory_bytes: CAPS.memoryBytes, cpus: CAPS.cpus, pids: CAPS.pids },
    });
    const missing = await cloud.call('GET', `/api/v1/store/apps/${APP_ID}/versions/9.9.9`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'RELEASE_NOT_IN_INDEX');
  });

  it('installs: release and image blobs through the peer, sandbox running, the route answers', async () => {
    const res = await cloud.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.0.0' });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.app.id, APP_ID);
    assert.equal(res.body.app.state, 'fetching');
    const again = await cloud.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.0.0' });
    assert.equal(again.status, 409, 'one install of an app at a time');
    assert.equal(again.body.error.code, 'APP_BUSY');
    await cloud.installer.idle();

    const shown = await cloud.call('GET', `/api/v1/apps/${APP_ID}`);
    assert.equal(shown.status, 200, shown.text);
    assert.equal(shown.body.app.state, 'running', shown.body.app.state_detail);
    assert.equal(shown.body.app.version, '1.0.0');
    assert.equal(shown.body.app.name, 'Hello');
    assert.equal(shown.body.app.url, `https://${APP_ID}.cloud.install.test/`);
    assert.equal(shown.body.app.services[0].name, 'web');

    // The zip came through the peer: its task (id = the digest) is on the peer.
    const tasks = await cloud.peer.tasks();
    const zipTask = tasks.find((t) => t.taskId === sha256);
    assert.ok(zipTask, `the peer holds the release task ${sha256}`);
    assert.ok(
      stack.front.hits.some((h) => h === `/releases/sha256:${sha256}`),
      'fetched from the store by digest',
    );
    // Every image blob came through the peer, and the registry served each once.
    for (const blob of stack.image.blobs) {
      assert.ok(
        tasks.some((t) => t.taskId === blob.digest.slice(7)),
        `the peer holds blob ${blob.digest}`,
      );
      assert.equal(stack.registryFront.blobGets(blob.digest), 1, `blob ${blob.digest} served once`);
    }
    const row = await cloud.installer.get(APP_ID);
    assert.deepEqual(
      JSON.parse(row!.images),
      { web: stack.image.configDigest },
      'the loaded image id is recorded',
    );
    const inspected = await stack.dockerd.docker([
      'image',
      'inspect',
      '--format',
      '{{.Id}}',
      stack.image.configDigest,
    ]);
    assert.equal(inspected.stdout.trim(), stack.image.configDigest);

    const route = await cloud.installer.route(APP_ID);
    assert.equal(route?.kind, 'running');
    if (route?.kind !== 'running') return;
    assert.equal(route.port, 8080);
    assert.equal(route.urlPath, '/');
    const page = await eventually('the app answers', () => httpGet(route.host, route.port));
    assert.match(page, new RegExp(PAGE));

    const listed = await cloud.call('GET', '/api/v1/apps');
    assert.deepEqual(
      listed.body.items.map((a: { id: string; state: string }) => [a.id, a.state]),
      [[APP_ID, 'running']],
    );
    const store = await cloud.call('GET', '/api/v1/store/apps');
    assert.equal(store.body.apps[0].installed_version, '1.0.0');
    const audit = await cloud.database.db.selectFrom('audit_log').select('action').execute();
    const actions = audit.map((a) => a.action);
    assert.ok(actions.includes('app.install') && actions.includes('app.installed'), actions.join(', '));
    assert.equal(await cloud.installer.route('no-such-app'), undefined);
  });

  it('refuses installing the same version again and going back', async () => {
    const same = await cloud.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.0.0' });
    assert.equal(same.status, 409);
    assert.equal(same.body.error.code, 'APP_INSTALLED');
    const unknown = await cloud.call('POST', '/api/v1/apps', { app_id: 'other-app', version: '1.0.0' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'RELEASE_NOT_IN_INDEX');
  });

  it('stops and starts, with the gateway told; shows logs', async () => {
    const stopped = await cloud.call('POST', `/api/v1/apps/${APP_ID}/stop`);
    assert.equal(stopped.status, 200, stopped.text);
    assert.equal(stopped.body.app.state, 'stopped');
    const route = await cloud.installer.route(APP_ID);
    assert.equal(route?.kind, 'unavailable');
    assert.equal(route?.kind === 'unavailable' && route.status, 'stopped');

    const started = await cloud.call('POST', `/api/v1/apps/${APP_ID}/start`);
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.app.state, 'running');
    const running = await eventually('the app runs again', async () => {
      const r = await cloud.installer.route(APP_ID);
      return r?.kind === 'running' ? r : undefined;
    });
    assert.match(await eventually('it answers', () => httpGet(running.host, running.port)), new RegExp(PAGE));

    const logs = await cloud.app.inject({
      method: 'GET',
      url: `/api/v1/apps/${APP_ID}/logs?tail=50`,
      headers: { cookie: cloud.admin.cookie },
    });
    assert.equal(logs.statusCode, 200, logs.body);
    assert.match(String(logs.headers['content-type']), /^text\/plain/);
    const badTail = await cloud.call('GET', `/api/v1/apps/${APP_ID}/logs?tail=100000`);
    assert.equal(badTail.status, 400, 'the tail is bounded');
  });

  it('follows the logs live, and the follow ends when the client leaves', async () => {
    const address = await cloud.app.listen({ port: 0, host: '127.0.0.1' });
    const controller = new AbortController();
    const res = await request(`${address}/api/v1/apps/${APP_ID}/logs?follow=true&tail=0`, {
      headers: { cookie: cloud.admin.cookie },
      signal: controller.signal,
      headersTimeout: 15_000,
    });
    assert.equal(res.statusCode, 200);
    const stream = cloud.logStreams.at(-1)!;
    const route = await cloud.installer.route(APP_ID);
    assert.equal(route?.kind, 'running');
    let seen = '';
    const reading = (async () => {
      for await (const chunk of res.body) {
        seen += chunk.toString();
        if (/response:200/.test(seen)) return;
      }
    })();
    if (route?.kind === 'running') await httpGet(route.host, route.port);
    await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    assert.match(seen, /response:200/, 'a visit to the app shows up in the followed log');
    controller.abort();
    await reading.catch(() => {});
    await eventually(
      'the engine log stream closes',
      async () => (stream.destroyed ? true : undefined),
      10_000,
    );
  });

  it('uninstalls keeping the data by default: containers and network gone, the volume kept', async () => {
    const removed = await cloud.call('DELETE', `/api/v1/apps/${APP_ID}`);
    assert.equal(removed.status, 202, removed.text);
    assert.equal(removed.body.app.state, 'removing');
    await cloud.installer.idle();
    assert.deepEqual((await cloud.call('GET', '/api/v1/apps')).body.items, []);
    const label = `label=dev.warren.instance=${INSTANCE_ID}`;
    const containers = await stack.dockerd.docker(['ps', '-aq', '--filter', label]);
    assert.equal(containers.stdout.trim(), '', 'no container left');
    const networks = await stack.dockerd.docker(['network', 'ls', '-q', '--filter', label]);
    assert.equal(networks.stdout.trim(), '', 'no network left');
    const volumes = await stack.dockerd.docker(['volume', 'ls', '-q', '--filter', label]);
    assert.notEqual(volumes.stdout.trim(), '', 'the data volume is kept');
    assert.ok(cloud.installer.kept.has(APP_ID));
    assert.equal(await cloud.installer.route(APP_ID), undefined);
  });
});
