import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BuiltImage, buildOciImage } from '../../src/core/oci/oci-layout.js';
import { Cluster, metric } from '../e2e/cluster.js';
import { eventually, localTasks } from '../e2e/jobs-cluster.js';
import { createToken, rootSession } from '../helpers/auth.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { killAll, runWarren } from '../helpers/processes.js';
import {
  freePort,
  pushImage,
  type Registry,
  type RegistryFront,
  startRegistry,
  startRegistryFront,
} from '../helpers/registry.js';
import { requireCommand } from '../helpers/skip.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

const MIB = 1024 * 1024;
const skip = requireCommand('docker-registry') ?? requireCommand('skopeo') ?? requireCommand('htpasswd');

/*
 * Issue 4, image preheat: `warren preheat --image REF` has the manager
 * resolve the image on a registry of its config and the seed peers warm every
 * blob as a content-addressed task, fetched with their own registry account;
 * a peer pulling the image afterwards through its mirror gets every blob from
 * the seed, and the registry serves each blob once in all.
 */
describe('image preheat', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let front: RegistryFront;
  let manager: TestManager;
  let cluster: Cluster;
  let image: BuiltImage;
  let mirror: string;
  let rootToken: string;
  let cli: (args: string[]) => ReturnType<typeof runWarren>;
  const password = randomBytes(12).toString('hex');

  before(async () => {
    dir = tempDir('warren-image-preheat-');
    registry = await startRegistry(join(dir, 'registry'), { username: 'puller', password });
    front = await startRegistryFront(registry);
    image = await buildOciImage(join(dir, 'oci'), '1', [
      [{ path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }],
      [{ path: 'data/big.bin', data: randomBytes(9 * MIB) }],
    ]);
    await pushImage(registry, image, 'team/app', dir);
    const passwordFile = join(dir, 'registry-password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const registries = [{ host: front.host, url: `http://${front.host}`, username: 'puller', passwordFile }];

    manager = await startTestManager({
      flags: {
        'keepalive.interval': '500ms',
        'keepalive.inactiveAfter': '5s',
        'cache.refresh': '300ms',
        registries,
      },
    });
    rootToken = await rootSession(manager);
    const { token } = await createToken(manager, rootToken, ['job', 'read', 'cluster']);
    const caFile = join(dir, 'manager-ca.crt');
    writeFileSync(caFile, manager.caPem);
    cli = (args) =>
      runWarren([...args, '--manager', manager.api, '--ca-file', caFile], {
        env: { WARREN_TOKEN: token, XDG_CONFIG_HOME: join(dir, 'config') },
        timeoutMs: 120_000,
      });

    cluster = new Cluster(dir).useManager(manager.manager);
    await cluster.startScheduler();
    await eventually('the scheduler registered', () =>
      manager.manager.ctx.clusters.components().some((c) => c.role === 'scheduler' && c.state === 'active'),
    );
    const port = await freePort();
    mirror = `127.0.0.1:${port}`;
    for (const [name, seed] of [
      ['seed-1', true],
      ['peer-a', false],
    ] as const) {
      const config = join(dir, `${name}.yaml`);
      const lines = [
        'registries:',
        `  - host: "${front.host}"`,
        `    url: http://${front.host}`,
        '    username: puller',
        `    passwordFile: ${passwordFile}`,
        ...(seed ? [] : ['mirror:', `  listen: ${mirror}`, `  defaultRegistry: "${front.host}"`]),
        '',
      ];
      await writeFile(config, lines.join('\n'));
      await cluster.startPeer(name, { seed, args: ['--config', config] });
    }
    await eventually('2 hosts on the scheduler', async () => {
      return (await metric(cluster.scheduler!.ops, 'warren_scheduler_hosts_connected')) === 2;
    });
  });

  after(async () => {
    await killAll();
    await manager?.stop();
    await front?.close();
    await registry?.close();
    cleanupTempDirs();
  });

  it('warms every blob on the seed, once from the registry; a later pull comes from the seed', async () => {
    const ref = `${front.host}/team/app:1`;
    const run = await cli(['preheat', '--image', ref, '--scope', 'all_seed_peers', '--wait', '--json']);
    assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
    const job = JSON.parse(run.stdout);
    assert.equal(job.state, 'succeeded', job.error);
    assert.equal(job.args.image, ref);
    assert.equal(job.args.resolved.manifest_digest, image.manifestDigest);
    const blobs = image.blobs.map((b) => b.digest);
    assert.deepEqual(
      job.args.resolved.blobs.map((b: { digest: string }) => b.digest),
      blobs,
      'config then layers',
    );
    assert.equal(job.results.length, blobs.length, 'one result per blob');
    for (const result of job.results) {
      assert.equal(result.host, 'seed-1');
      assert.equal(result.complete, true, `${result.task_id}: ${result.error}`);
    }
    const seedTasks = await localTasks(cluster.peers.get('seed-1')!.socket);
    for (const digest of blobs) {
      const task = seedTasks.find((t) => t.taskId === digest.slice('sha256:'.length));
      assert.ok(task && task.piecesHeld === task.pieceCount, `seed holds ${digest} whole`);
      assert.equal(front.blobGets(digest), 1, `registry served ${digest} once`);
    }

    // peer-a pulls the image through its mirror: every blob from the seed.
    for (const layer of image.layers) {
      const res = await fetch(`http://${mirror}/v2/team/app/blobs/${layer.digest}`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, layer.size);
      assert.equal(front.blobGets(layer.digest), 1, `${layer.digest} still served once by the registry`);
    }
  });

  it('refuses an image on a registry the manager does not know, and a missing tag, creating no job', async () => {
    const before = await manager.call('GET', '/api/v1/jobs', { token: rootToken });
    const unknown = await cli(['preheat', '--image', 'evil.example:5000/x/y:1']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /evil\.example:5000.*not in this component's registries/);
    const missing = await cli(['preheat', '--image', `${front.host}/team/app:nope`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /not found/);
    const both = await cli(['preheat', 'http://x.example/f', '--image', `${front.host}/team/app:1`]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /one of them/);
    const afterJobs = await manager.call('GET', '/api/v1/jobs', { token: rootToken });
    assert.equal(afterJobs.body.items.length, before.body.items.length, 'no job was created');
  });
});
