import assert from 'node:assert/strict';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerEngine } from '../../src/cloud/docker/engine.js';
import { CAP_ADD } from '../../src/cloud/sandbox/plan.js';
import { DockerSandbox } from '../../src/cloud/sandbox/sandbox.js';
import { type AppDeployment, type SandboxCaps, WARREN_LABELS } from '../../src/cloud/sandbox/types.js';
import { isWarrenError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { type Dockerd, startDockerd } from '../helpers/docker.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import {
  BUSYBOX_IMAGE,
  buildBusyboxImage,
  deploymentOf,
  dockerSkip,
  eventually,
  execIn,
  httpdApp,
  httpGet,
  inspect,
  packTestRelease,
} from './helpers-docker.js';

/*
 * Issue 6, what must be shown 3: the sandbox settings read back from Docker
 * (`docker inspect`) match the rules for every container of a two-service
 * app; create() is idempotent and repairs; remove() keeps or drops the data;
 * objects Warren did not make are never touched.
 */

const MIB = 1024 * 1024;
const INSTANCE = 'c0ffee00-aaaa-bbbb-cccc-000000000001';
const TAG = 'c0ffee00';
const CAPS: SandboxCaps = { memoryBytes: 48 * MIB, cpus: 1, pids: 128 };
/** Bits of CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) SETGID(6) SETUID(7) NET_BIND_SERVICE(10). */
const CAP_BITS = (1n << 0n) | (1n << 1n) | (1n << 3n) | (1n << 6n) | (1n << 7n) | (1n << 10n);

describe('sandbox on Docker Engine: rules read back, create, remove', { skip: dockerSkip() }, () => {
  let dir: string;
  let dockerd: Dockerd;
  let engine: DockerEngine;
  let sandbox: DockerSandbox;
  let imageId: string;
  let alpha: AppDeployment;

  before(async () => {
    dir = tempDir('warren-sandbox-');
    dockerd = await startDockerd(join(dir, 'docker'), { networks: true });
    imageId = await buildBusyboxImage(dockerd, dir);
    engine = new DockerEngine({ socketPath: dockerd.socket });
    sandbox = new DockerSandbox({ engine, caps: CAPS, instanceId: INSTANCE, log: silentLogger() });
    const app = httpdApp('alpha', 'hello-alpha', { resources: { memory: '64m', cpus: 0.5, pids: 64 } });
    alpha = deploymentOf(await packTestRelease(dir, app), imageId);
  });

  after(async () => {
    await engine?.close();
    await dockerd?.stop();
    cleanupTempDirs();
  });

  test('create + start: the app runs and the gateway target answers', async () => {
    await sandbox.create(alpha);
    await sandbox.start('alpha');
    await eventually('alpha running', async () => (await sandbox.status('alpha')).state === 'running');
    const status = await sandbox.status('alpha');
    assert.deepEqual(
      status.services.map((s) => [s.service, s.state, s.health]),
      [
        ['web', 'running', 'healthy'],
        ['worker', 'running', 'none'],
      ],
    );
    const target = await sandbox.target('alpha');
    assert.ok(target);
    assert.equal(target.port, 8080);
    assert.equal(await httpGet(target.host, target.port), 'hello-alpha\n');
  });

  test('docker inspect of every container matches the sandbox rules', async () => {
    const network = `warren-${TAG}-alpha`;
    for (const service of ['web', 'worker']) {
      const name = `warren-${TAG}-alpha_${service}`;
      const c = await inspect(dockerd, 'container', name);
      assert.ok(c, name);
      const host = c.HostConfig;
      assert.deepEqual(host.CapDrop, ['ALL'], name);
      assert.deepEqual([...host.CapAdd].sort(), [...CAP_ADD].sort(), name);
      assert.ok(host.SecurityOpt.includes('no-new-privileges:true'), name);
      assert.equal(host.Privileged, false, name);
      assert.equal(host.Memory, 48 * MIB, `${name}: 64m asked, clamped to the 48m cap`);
      assert.equal(host.MemorySwap, 48 * MIB, name);
      assert.equal(host.NanoCpus, 500_000_000, `${name}: 0.5 CPU asked, cap 1`);
      assert.equal(host.PidsLimit, 64, `${name}: 64 asked, cap 128`);
      assert.deepEqual(host.PortBindings ?? {}, {}, name);
      assert.equal(host.PublishAllPorts, false, name);
      assert.deepEqual(host.Devices ?? [], [], name);
      assert.deepEqual(host.Binds ?? [], [], name);
      assert.equal(host.IpcMode, 'private', name);
      assert.equal(host.NetworkMode, network, name);
      assert.equal(host.ReadonlyRootfs, service === 'web', `${name}: read_only only where compose asks`);
      assert.equal(host.RestartPolicy.Name, 'unless-stopped', name);
      assert.equal(host.LogConfig.Type, 'json-file', name);
      assert.deepEqual(Object.keys(c.NetworkSettings.Networks), [network], `${name}: only the app's network`);
      for (const ports of Object.values(c.NetworkSettings.Ports ?? {}))
        assert.equal(ports, null, 'nothing published');
      for (const mount of c.Mounts) {
        assert.equal(mount.Type, 'volume', `${name}: only named volumes`);
        assert.match(mount.Name, new RegExp(`^warren-${TAG}-alpha_`), name);
      }
      assert.equal(c.Config.Labels[WARREN_LABELS.instance], INSTANCE);
      assert.equal(c.Config.Labels[WARREN_LABELS.app], 'alpha');
      assert.equal(c.Config.Labels[WARREN_LABELS.version], '1.0.0');
      assert.equal(c.Config.Labels[WARREN_LABELS.service], service);
      assert.equal(c.Config.Image, imageId);

      // And as the process inside sees it.
      const status = await execIn(dockerd, name, 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status');
      const field = (key: string) => status.stdout.match(new RegExp(`${key}:\\s*(\\S+)`))?.[1];
      assert.equal(BigInt(`0x${field('CapEff')}`), CAP_BITS, `${name}: effective capabilities`);
      assert.equal(BigInt(`0x${field('CapBnd')}`), CAP_BITS, `${name}: bounding set`);
      assert.equal(field('NoNewPrivs'), '1', name);
      assert.notEqual((await execIn(dockerd, name, 'ls /var/run/docker.sock /run/docker.sock')).code, 0);
    }
    const web = `warren-${TAG}-alpha_web`;
    const write = await execIn(dockerd, web, 'touch /bin/evil');
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
    assert.equal(
      (await execIn(dockerd, web, 'touch /tmp/ok /www/ok')).code,
      0,
      'tmpfs and volume are writable',
    );
    const net = await inspect(dockerd, 'network', network);
    assert.equal(net.Driver, 'bridge');
    assert.equal(net.Internal, false);
    assert.equal(net.Labels[WARREN_LABELS.instance], INSTANCE);
    const volume = await inspect(dockerd, 'volume', `warren-${TAG}-alpha_data`);
    assert.equal(volume.Labels[WARREN_LABELS.app], 'alpha');
  });

  test('logs: tail of one service or all, prefixed', async () => {
    const all = await text(await sandbox.logs('alpha', { tail: 100, follow: false }));
    assert.match(all, /^worker \| worker up$/m);
    const worker = await text(await sandbox.logs('alpha', { service: 'worker', tail: 10, follow: false }));
    assert.equal(worker, 'worker up\n');

    // Follow: a line written later arrives; destroying the stream ends it.
    const follow = await sandbox.logs('alpha', { tail: 0, follow: true });
    const seen = (async () => {
      for await (const line of follow) if (line === 'worker | late line\n') return true;
      return false;
    })();
    await execIn(dockerd, `warren-${TAG}-alpha_worker`, 'echo late line > /proc/1/fd/1');
    assert.equal(await Promise.race([seen, sleep(10_000).then(() => 'timeout')]), true);
    follow.destroy();

    await assert.rejects(
      () => sandbox.logs('alpha', { service: 'nope', tail: 1, follow: false }),
      (err) => isWarrenError(err, 'SANDBOX_SERVICE_UNKNOWN'),
    );
  });

  test('create again keeps what matches; a removed container is made again', async () => {
    const ids = async () => {
      const managed = await sandbox.listManaged();
      return new Map((managed.containers.get('alpha') ?? []).map((c) => [c.service, c.id]));
    };
    const before = await ids();
    await sandbox.create(alpha);
    assert.deepEqual(await ids(), before, 'idempotent: nothing replaced');
    await dockerd.docker(['rm', '-f', `warren-${TAG}-alpha_worker`]);
    assert.equal((await sandbox.status('alpha')).state, 'partial');
    await assert.rejects(
      () => sandbox.start('alpha'),
      (err) => isWarrenError(err, 'SANDBOX_INCOMPLETE'),
    );
    await sandbox.create(alpha);
    const after = await ids();
    assert.equal(after.get('web'), before.get('web'), 'the running web container is kept');
    assert.notEqual(after.get('worker'), before.get('worker'));
    await sandbox.start('alpha');
    await eventually('alpha running', async () => (await sandbox.status('alpha')).state === 'running');
  });

  test('a new version replaces the containers and keeps the data', async () => {
    await execIn(dockerd, `warren-${TAG}-alpha_web`, 'echo kept > /www/marker');
    const app = httpdApp('alpha', 'hello-alpha-2', { version: '1.1.0' });
    await sandbox.create(deploymentOf(await packTestRelease(dir, app), imageId));
    const managed = await sandbox.listManaged();
    assert.deepEqual(
      managed.containers
        .get('alpha')!
        .map((c) => [c.service, c.version, c.state])
        .sort(),
      [
        ['web', '1.1.0', 'created'],
        ['worker', '1.1.0', 'created'],
      ],
    );
    await sandbox.start('alpha');
    const target = await eventually('target', () => sandbox.target('alpha'));
    await eventually('new page', async () => (await httpGet(target.host, target.port)) === 'hello-alpha-2\n');
    assert.equal((await execIn(dockerd, `warren-${TAG}-alpha_web`, 'cat /www/marker')).stdout, 'kept\n');
    const c = await inspect(dockerd, 'container', `warren-${TAG}-alpha_web`);
    assert.equal(c.HostConfig.Memory, 48 * MIB, 'no resources asked: the cap');
    assert.equal(c.HostConfig.PidsLimit, 128);
  });

  test('objects named like Warren’s but not labelled are refused as a conflict and left alone', async () => {
    const network = `warren-${TAG}-gamma`;
    const container = `warren-${TAG}-gamma_web`;
    assert.equal((await dockerd.docker(['network', 'create', network])).code, 0);
    const run = await dockerd.docker([
      'run',
      '-d',
      '--name',
      container,
      '--network',
      'none',
      BUSYBOX_IMAGE,
      'sleep',
      '600',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const netId = (await inspect(dockerd, 'network', network)).Id;
    const containerId = (await inspect(dockerd, 'container', container)).Id;

    const gamma = deploymentOf(await packTestRelease(dir, httpdApp('gamma', 'hello-gamma')), imageId);
    await assert.rejects(
      () => sandbox.create(gamma),
      (err) =>
        isWarrenError(err, 'SANDBOX_NAME_CONFLICT') &&
        err.status === 409 &&
        err.message.includes(`network ${network}`) &&
        err.message.includes(`container ${container}`) &&
        err.message.includes('never touches objects it did not make'),
    );
    await sandbox.remove('gamma', { keepData: false });

    assert.equal((await inspect(dockerd, 'network', network))?.Id, netId, 'the network is untouched');
    const still = await inspect(dockerd, 'container', container);
    assert.equal(still?.Id, containerId, 'the container is untouched');
    assert.equal(still.State.Running, true);
    assert.equal(await inspect(dockerd, 'volume', `warren-${TAG}-gamma_data`), undefined, 'nothing was made');
    const managed = await sandbox.listManaged();
    assert.equal(managed.containers.has('gamma'), false);
    assert.equal(managed.networks.has('gamma'), false);
  });

  test('remove with keepData keeps the volume; without, it goes; unlabelled objects stay', async () => {
    await sandbox.remove('alpha', { keepData: true });
    assert.equal(await inspect(dockerd, 'container', `warren-${TAG}-alpha_web`), undefined);
    assert.equal(await inspect(dockerd, 'network', `warren-${TAG}-alpha`), undefined);
    assert.ok(await inspect(dockerd, 'volume', `warren-${TAG}-alpha_data`), 'data kept');
    assert.equal((await sandbox.status('alpha')).state, 'missing');
    assert.equal(await sandbox.target('alpha'), undefined);

    // Installed again, the data is still there.
    await sandbox.create(alpha);
    await sandbox.start('alpha');
    await eventually('alpha running', async () => (await sandbox.status('alpha')).state === 'running');
    assert.equal((await execIn(dockerd, `warren-${TAG}-alpha_web`, 'cat /www/marker')).stdout, 'kept\n');

    await sandbox.remove('alpha', { keepData: false });
    assert.equal(await inspect(dockerd, 'volume', `warren-${TAG}-alpha_data`), undefined, 'data removed');
    const managed = await sandbox.listManaged();
    assert.equal(managed.containers.size + managed.networks.size + managed.volumes.size, 0);
    assert.ok(
      await inspect(dockerd, 'container', `warren-${TAG}-gamma_web`),
      'unlabelled container still there',
    );
    assert.ok(await inspect(dockerd, 'network', `warren-${TAG}-gamma`), 'unlabelled network still there');
  });
});
