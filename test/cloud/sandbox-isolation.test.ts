import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerEngine } from '../../src/cloud/docker/engine.js';
import { DockerSandbox } from '../../src/cloud/sandbox/sandbox.js';
import { silentLogger } from '../../src/core/log.js';
import { type Dockerd, startDockerd } from '../helpers/docker.js';
import { requireCommand } from '../helpers/skip.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import {
  BUSYBOX_IMAGE,
  buildBusyboxImage,
  deploymentOf,
  dockerSkip,
  eventually,
  execIn,
  httpdApp,
  inspect,
  packTestRelease,
  type TestApp,
} from './helpers-docker.js';

/*
 * Issue 6, what must be shown 2 (the sandbox's part): an app container tries
 * to reach another app's containers and the Docker Engine, for real. App A
 * has a `sink` service that appends a line to a file in its volume for every
 * connection it accepts: B's attempts must fail AND leave the file as it
 * was, while A's own worker gets through (the probe itself works).
 */

const INSTANCE = 'bead0000-1111-2222-3333-444455556666';
const TAG = 'bead0000';
const CAPS = { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 128 };

function withSink(app: TestApp): TestApp {
  const compose = structuredClone(app.compose) as { services: Record<string, unknown>; volumes: object };
  compose.services['sink'] = {
    image: BUSYBOX_IMAGE,
    command: ['nc', '-ll', '-p', '9000', '-e', 'sh', '-c', 'echo hit >> /hits/log'],
    volumes: ['hits:/hits'],
    stop_grace_period: '1s',
  };
  compose.volumes = { ...compose.volumes, hits: null };
  return { ...app, compose };
}

describe('sandbox isolation: one app cannot reach another, nor Docker', {
  skip: dockerSkip() ?? requireCommand('unshare'),
}, () => {
  let dir: string;
  let dockerd: Dockerd;
  let engine: DockerEngine;
  let sandbox: DockerSandbox;
  const name = (app: string, service: string) => `warren-${TAG}-${app}_${service}`;
  const ipOf = async (app: string, service: string) =>
    (await inspect(dockerd, 'container', name(app, service))).NetworkSettings.Networks[`warren-${TAG}-${app}`]
      .IPAddress as string;
  const hits = async () => (await execIn(dockerd, name('alpha', 'sink'), 'cat /hits/log 2>/dev/null')).stdout;
  const probe = (from: string, host: string, port: number) =>
    execIn(dockerd, from, `echo probe | nc -w 3 ${host} ${port}; echo "exit=$?"`, 20_000);

  before(async () => {
    dir = tempDir('warren-sandbox-iso-');
    // Its own network namespace: another dockerd starting on this host meanwhile would flush the
    // shared DOCKER-ISOLATION chains and make this test fail (Docker's rules, not Warren's, are global).
    dockerd = await startDockerd(join(dir, 'docker'), { networks: true, privateNetns: true });
    const imageId = await buildBusyboxImage(dockerd, dir);
    engine = new DockerEngine({ socketPath: dockerd.socket });
    sandbox = new DockerSandbox({ engine, caps: CAPS, instanceId: INSTANCE, log: silentLogger() });
    for (const app of [withSink(httpdApp('alpha', 'hello-alpha')), httpdApp('beta', 'hello-beta')]) {
      await sandbox.create(deploymentOf(await packTestRelease(dir, app), imageId));
      await sandbox.start(app.id);
    }
    for (const app of ['alpha', 'beta']) {
      await eventually(`${app} running`, async () => (await sandbox.status(app)).state === 'running');
    }
  });

  after(async () => {
    await engine?.close();
    await dockerd?.stop();
    cleanupTempDirs();
  });

  test("A's own worker reaches A's services (the probe works)", async () => {
    const page = await execIn(
      dockerd,
      name('alpha', 'worker'),
      `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 8080`,
    );
    assert.match(page.stdout, /hello-alpha/);
    const before = await hits();
    assert.match((await probe(name('alpha', 'worker'), 'sink', 9000)).stdout, /exit=0/);
    await eventually('the sink saw it', async () => (await hits()).length > before.length);
  });

  test("B's containers cannot reach A's containers, by address or by name, and nothing reaches A", async () => {
    const before = await hits();
    const webIp = await ipOf('alpha', 'web');
    const sinkIp = await ipOf('alpha', 'sink');
    for (const from of [name('beta', 'worker'), name('beta', 'web')]) {
      const page = await execIn(
        dockerd,
        from,
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${webIp} 8080`,
        20_000,
      );
      assert.doesNotMatch(page.stdout, /hello-alpha/, `${from} -> alpha web`);
      assert.notEqual(page.code, 0, `${from} -> alpha web: ${page.stdout}${page.stderr}`);
      assert.doesNotMatch((await probe(from, sinkIp, 9000)).stdout, /exit=0/, `${from} -> alpha sink`);
      for (const host of [name('alpha', 'web'), name('alpha', 'sink')]) {
        const byName = await probe(from, host, 9000);
        assert.doesNotMatch(byName.stdout, /exit=0/, `${from} -> ${host}`);
      }
    }
    // The refusal is Docker's isolation, not a missing route: forwarding is on and each bridge's DROP rule is in place.
    const netns = (args: string[]) =>
      spawnSync('nsenter', ['-t', String(dockerd.pid()), '-n', ...args], { encoding: 'utf8' });
    assert.equal(netns(['cat', '/proc/sys/net/ipv4/ip_forward']).stdout.trim(), '1');
    const rules = netns(['iptables', '-S', 'DOCKER-ISOLATION-STAGE-2']).stdout;
    for (const app of ['alpha', 'beta']) {
      const bridge = `br-${(await inspect(dockerd, 'network', `warren-${TAG}-${app}`)).Id.slice(0, 12)}`;
      assert.match(rules, new RegExp(`-o ${bridge} -j DROP`), `${app}'s bridge`);
    }
    // Give a late connection time to land, then check nothing did.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await hits(), before, "A's sink was never reached from B");
  });

  test('no Docker Engine inside: no socket, and the network gateway does not serve the API', async () => {
    const network = await inspect(dockerd, 'network', `warren-${TAG}-beta`);
    const gateway = network.IPAM.Config[0].Gateway as string;
    assert.match(gateway, /^10\.\d+\.\d+\.1$/);
    const from = name('beta', 'worker');
    const socket = await execIn(dockerd, from, 'ls -l /var/run/docker.sock /run/docker.sock /docker.sock');
    assert.notEqual(socket.code, 0);
    assert.match(socket.stderr, /No such file or directory/);
    for (const port of [2375, 2376]) {
      const api = await execIn(
        dockerd,
        from,
        `printf 'GET /version HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${gateway} ${port}; echo "exit=$?"`,
      );
      assert.doesNotMatch(api.stdout, /ApiVersion|exit=0/, `gateway:${port}`);
    }
  });
});
