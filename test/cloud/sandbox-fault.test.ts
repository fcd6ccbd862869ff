import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerEngine } from '../../src/cloud/docker/engine.js';
import { SANDBOX_LABELS } from '../../src/cloud/sandbox/plan.js';
import { DockerSandbox } from '../../src/cloud/sandbox/sandbox.js';
import type { AppDeployment } from '../../src/cloud/sandbox/types.js';
import { silentLogger } from '../../src/core/log.js';
import { type Dockerd, startDockerd } from '../helpers/docker.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import {
  buildBusyboxImage,
  deploymentOf,
  dockerSkip,
  eventually,
  httpdApp,
  httpGet,
  inspect,
  packTestRelease,
} from './helpers-docker.js';

/*
 * Issue 6, what must be shown 4 (the sandbox's part): Docker Engine restarted
 * while two apps run -> they come back by their restart policy, status()
 * says running and target() answers again; and what a crash between two
 * steps of create() leaves behind is repaired by the next create().
 */

const INSTANCE = 'fa170000-0000-4000-8000-000000000001';
const TAG = 'fa170000';
const CAPS = { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 128 };

describe('sandbox faults: engine restart, half-made apps', { skip: dockerSkip() }, () => {
  let dir: string;
  let dockerd: Dockerd;
  let engine: DockerEngine;
  let sandbox: DockerSandbox;
  let imageId: string;
  const apps = new Map<string, AppDeployment>();

  before(async () => {
    dir = tempDir('warren-sandbox-fault-');
    dockerd = await startDockerd(join(dir, 'docker'), { networks: true });
    imageId = await buildBusyboxImage(dockerd, dir);
    engine = new DockerEngine({ socketPath: dockerd.socket });
    sandbox = new DockerSandbox({ engine, caps: CAPS, instanceId: INSTANCE, log: silentLogger() });
    for (const id of ['alpha', 'beta']) {
      apps.set(id, deploymentOf(await packTestRelease(dir, httpdApp(id, `hello-${id}`)), imageId));
    }
  });

  after(async () => {
    await engine?.close();
    await dockerd?.stop();
    cleanupTempDirs();
  });

  const answers = async (id: string) => {
    const target = await sandbox.target(id);
    return target && (await httpGet(target.host, target.port)) === `hello-${id}\n`;
  };

  test('Docker Engine restarted while two apps run: both come back and answer', async () => {
    for (const [id, deployment] of apps) {
      await sandbox.create(deployment);
      await sandbox.start(id);
    }
    for (const id of apps.keys()) await eventually(`${id} answers`, () => answers(id));

    await dockerd.restart();

    for (const id of apps.keys()) {
      await eventually(
        `${id} running after the restart`,
        async () => (await sandbox.status(id)).state === 'running',
      );
      await eventually(`${id} answers after the restart`, () => answers(id));
    }
    const status = await sandbox.status('alpha');
    assert.deepEqual(
      status.services.map((s) => [s.service, s.state]),
      [
        ['web', 'running'],
        ['worker', 'running'],
      ],
    );
  });

  test('stop, start and restart through the sandbox', async () => {
    await sandbox.stop('beta');
    assert.equal((await sandbox.status('beta')).state, 'stopped');
    assert.equal(await sandbox.target('beta'), undefined, 'no target while stopped');
    await sandbox.start('beta');
    await eventually('beta answers', () => answers('beta'));
    const before = (await inspect(dockerd, 'container', `warren-${TAG}-beta_web`)).State.StartedAt;
    await sandbox.restart('beta');
    await eventually('beta answers after restart', () => answers('beta'));
    const after = (await inspect(dockerd, 'container', `warren-${TAG}-beta_web`)).State.StartedAt;
    assert.notEqual(after, before);
  });

  test('a crash in the middle of create(): the next create() finishes the job', async () => {
    await sandbox.remove('alpha', { keepData: false });
    const plan = sandbox.plan(apps.get('alpha')!);
    // What a crash after the network, the volumes and the first container leaves (create's order).
    await engine.networkCreate(plan.network);
    for (const volume of plan.volumes) await engine.volumeCreate(volume);
    const first = plan.containers[0]!;
    const stale = structuredClone(first.body);
    stale.HostConfig.PidsLimit = 99; // made by an older Warren with other caps: its config label differs
    stale.Labels[SANDBOX_LABELS.config] = 'stale';
    await engine.containerCreate(first.name, stale);
    await assert.rejects(() => sandbox.start('alpha'), /SANDBOX_INCOMPLETE|no container for worker/);

    await sandbox.create(apps.get('alpha')!);
    const web = await inspect(dockerd, 'container', `warren-${TAG}-alpha_web`);
    assert.equal(web.HostConfig.PidsLimit, 128, 'the stale container was replaced');
    assert.ok(await inspect(dockerd, 'volume', `warren-${TAG}-alpha_data`));
    await sandbox.start('alpha');
    await eventually('alpha answers', () => answers('alpha'));
    const managed = await sandbox.listManaged();
    assert.equal(managed.networks.get('alpha')?.length, 1);
    assert.equal(managed.containers.get('alpha')?.length, 2);
  });

  test('the engine gone: a clear DOCKER_UNAVAILABLE', async () => {
    const gone = new DockerEngine({ socketPath: join(dir, 'nothing.sock') });
    const lost = new DockerSandbox({ engine: gone, caps: CAPS, instanceId: INSTANCE, log: silentLogger() });
    await assert.rejects(() => lost.status('alpha'), /app installs need a Docker Engine: cannot reach/);
    await gone.close();
  });
});
