import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeerClient } from '../../src/cli/peer-client.js';
import { pullImage } from '../../src/core/oci/image-loader.js';
import { type BuiltImage, buildOciImage, type LayerFile } from '../../src/core/oci/oci-layout.js';
import type { TaskStatus } from '../../src/peer/api/local-api.js';
import { Cluster, type PeerProcess } from '../e2e/cluster.js';
import { type Dockerd, startDockerd } from '../helpers/docker.js';
import { killAll, runWarren } from '../helpers/processes.js';
import {
  freePort,
  pushImage,
  type Registry,
  type RegistryFront,
  startRegistry,
  startRegistryFront,
} from '../helpers/registry.js';
import { requireCommand, requireRoot } from '../helpers/skip.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

const MIB = 1024 * 1024;
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const skip =
  requireRoot() ??
  requireCommand('dockerd') ??
  requireCommand('docker-registry') ??
  requireCommand('skopeo') ??
  requireCommand('htpasswd');

/*
 * Issue 4, what must be shown 4: the image loader puts an image into Docker
 * through the local peer, and Docker contacts no registry. The registry
 * (Debian's docker-registry, htpasswd auth) sits behind a counting front;
 * only the peer has the account. The private dockerd has none, and its own
 * registry mirror is a closed port: the loader is the only way in.
 */
describe('image loader: into Docker through the local peer', { skip }, () => {
  let dir: string;
  let registry: Registry;
  let front: RegistryFront;
  let cluster: Cluster;
  let peer: PeerProcess;
  let mirror: string;
  let dockerd: Dockerd;
  const images = new Map<string, BuiltImage>();
  const password = randomBytes(12).toString('hex');
  const ref = (repository: string, tag: string) => `${front.host}/${repository}:${tag}`;

  before(async () => {
    dir = tempDir('warren-loader-');
    registry = await startRegistry(join(dir, 'registry'), { username: 'puller', password });
    front = await startRegistryFront(registry);
    const busybox: LayerFile[] = [{ path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 }];
    const build = async (name: string, extra: LayerFile[]) => {
      const image = await buildOciImage(join(dir, 'oci', name), '1', [busybox, extra]);
      images.set(name, image);
      // Straight to the registry: the front sees only what happens afterwards.
      await pushImage(registry, image, `warren/${name}`, dir);
      return image;
    };
    await build('app', [{ path: 'data/app.bin', data: randomBytes(9 * MIB) }]);
    await build('cli', [{ path: 'data/cli.bin', data: randomBytes(5 * MIB) }]);
    await build('arm', [{ path: 'etc/arm.txt', data: Buffer.from('the arm64 one\n') }]);
    await build('bad', [{ path: 'etc/bad.txt', data: randomBytes(100 * 1024) }]);
    await pushIndex(registry, 'warren/arm', 'multi', [
      { image: images.get('app')!, repository: 'warren/app', arch: 'amd64' },
      { image: images.get('arm')!, repository: 'warren/arm', arch: 'arm64' },
    ]);

    await writeFile(join(dir, 'registry-password'), `${password}\n`, { mode: 0o600 });
    const port = await freePort();
    mirror = `http://127.0.0.1:${port}`;
    const config = join(dir, 'peer.yaml');
    await writeFile(
      config,
      [
        'registries:',
        `  - host: "${front.host}"`,
        `    url: http://${front.host}`,
        '    username: puller',
        `    passwordFile: ${join(dir, 'registry-password')}`,
        'mirror:',
        `  listen: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    peer = await cluster.startPeer('peer-1', { args: ['--config', config] });
    // Docker's own mirror is a port nobody listens on, and it has no account for the registry.
    dockerd = await startDockerd(join(dir, 'docker'), { mirror: `http://127.0.0.1:${await freePort()}` });
  });

  after(async () => {
    await dockerd?.stop();
    await killAll();
    await front?.close();
    await registry?.close();
    cleanupTempDirs();
  });

  async function inspect(reference: string): Promise<{ id: string; tags: string[] } | undefined> {
    const out = await dockerd.docker([
      'image',
      'inspect',
      '--format',
      '{{.Id}} {{json .RepoTags}}',
      reference,
    ]);
    if (out.code !== 0) return undefined;
    const [id, tags] = out.stdout.trim().split(' ');
    return { id: id!, tags: JSON.parse(tags!) as string[] };
  }

  it('Docker by itself cannot pull the image: it has no account for the registry', async () => {
    const pulled = await dockerd.docker(['pull', ref('warren/app', '1')]);
    assert.notEqual(pulled.code, 0);
    assert.match(pulled.stderr, /auth|unauthorized/i, pulled.stderr);
    assert.ok(
      front.requests().every((r) => !r.path.includes('/blobs/')),
      'and it got no blob',
    );
    front.reset();
  });

  it('loads the image into Docker through the peer: right ID and tag, every blob fetched once by the peer', async () => {
    const image = images.get('app')!;
    const progress = new Map<string, number>();
    const result = await pullImage({
      reference: ref('warren/app', '1'),
      mirror,
      dockerSocket: dockerd.socket,
      onProgress: (digest, done) => progress.set(digest, done),
    });
    assert.equal(result.imageId, image.configDigest);
    assert.equal(result.manifestDigest, image.manifestDigest);
    assert.match(result.dockerMessages.join('\n'), /Loaded image/);
    assert.deepEqual(await inspect(ref('warren/app', '1')), {
      id: image.configDigest,
      tags: [ref('warren/app', '1')],
    });
    for (const blob of image.blobs) {
      assert.equal(progress.get(blob.digest), blob.size, `progress reached the size of ${blob.digest}`);
      assert.equal(front.blobGets(blob.digest), 1, `the registry served ${blob.digest} once`);
    }
    const requests = front.requests();
    assert.ok(requests.length > 0);
    assert.ok(
      requests.filter((r) => r.status === 200).every((r) => r.authorization),
      "every answered request carried the peer's account: none was Docker's",
    );
    const tasks = await tasksOf(peer);
    for (const blob of image.layers) {
      assert.ok(
        tasks.some((t) => t.taskId === blob.digest.slice(7)),
        `the layer is a content-addressed task on the peer: ${blob.digest}`,
      );
    }
  });

  it('resolves a multi-platform index to the asked platform', async () => {
    const amd = await pullImage({ reference: ref('warren/arm', 'multi'), mirror, dockerSocket: undefined });
    assert.equal(amd.imageId, images.get('app')!.configDigest, 'linux/amd64 by default');
    const arm = await pullImage({
      reference: ref('warren/arm', 'multi'),
      mirror,
      platform: { os: 'linux', architecture: 'arm64' },
      dockerSocket: dockerd.socket,
    });
    assert.equal(arm.imageId, images.get('arm')!.configDigest);
    assert.equal(arm.manifestDigest, images.get('arm')!.manifestDigest);
    assert.equal((await inspect(ref('warren/arm', 'multi')))?.id, images.get('arm')!.configDigest);
    await assert.rejects(
      pullImage({
        reference: ref('warren/arm', 'multi'),
        mirror,
        platform: { os: 'linux', architecture: 's390x' },
      }),
      /no linux\/s390x image \(it has: linux\/amd64, linux\/arm64\)/,
    );
  });

  it('a registry serving wrong bytes for a layer: the load fails with a clear error and Docker has no image', async () => {
    const image = images.get('bad')!;
    const layer = image.layers[1]!;
    front.corrupt(layer.digest);
    await assert.rejects(
      pullImage({ reference: ref('warren/bad', '1'), mirror, dockerSocket: dockerd.socket }),
      (err: Error) => /DIGEST|digest|cut|closed|terminated|socket/i.test(err.message),
    );
    assert.equal(await inspect(ref('warren/bad', '1')), undefined, 'no image under the tag');
    assert.equal(await inspect(image.configDigest), undefined, 'and none by ID');
  });

  it('warren image pull: progress lines per layer and the total without a terminal, then the image in Docker', async () => {
    const image = images.get('cli')!;
    const result = await runWarren(
      ['image', 'pull', ref('warren/cli', '1'), '--mirror', mirror, '--docker-socket', dockerd.socket],
      { timeoutMs: 180_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`manifest ${image.manifestDigest}, 2 layers`));
    for (const [i, layer] of image.layers.entries()) {
      assert.match(
        result.stderr,
        new RegExp(`layer ${i + 1}/2 ${layer.digest.slice(7, 19)} .* done \\(total`),
      );
    }
    assert.match(result.stdout, new RegExp(`loaded into Docker, image ${image.configDigest}`));
    assert.equal((await inspect(ref('warren/cli', '1')))?.id, image.configDigest);

    const json = await runWarren(
      ['image', 'pull', ref('warren/app', '1'), '--mirror', mirror, '--no-load', '--json'],
      { timeoutMs: 180_000 },
    );
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout.trim().split('\n').pop()!) as { loaded: boolean; imageId: string };
    assert.equal(parsed.loaded, false);
    assert.equal(parsed.imageId, images.get('app')!.configDigest);

    const down = await runWarren([
      'image',
      'pull',
      ref('warren/cli', '1'),
      '--mirror',
      'http://127.0.0.1:1',
      '--no-load',
    ]);
    assert.notEqual(down.code, 0);
    assert.match(down.stderr, /MIRROR_UNREACHABLE|mirror at http:\/\/127\.0\.0\.1:1/);
  });
});

async function tasksOf(peer: PeerProcess): Promise<TaskStatus[]> {
  const client = new PeerClient(peer.socket);
  try {
    return (await client.json<{ tasks: TaskStatus[] }>('GET', '/v1/tasks')).tasks;
  } finally {
    await client.close();
  }
}

/**
 * Puts an OCI index under `repository:tag` naming the images' manifests for
 * two platforms; the registry wants every manifest an index names in the
 * same repository, so each one is copied there by digest first.
 */
async function pushIndex(
  registry: Registry,
  repository: string,
  tag: string,
  entries: { image: BuiltImage; repository: string; arch: string }[],
): Promise<void> {
  const auth = `Basic ${Buffer.from(`${registry.user!.username}:${registry.user!.password}`).toString('base64')}`;
  const base = `http://${registry.host}/v2`;
  const manifests = [];
  for (const entry of entries) {
    const got = await fetch(`${base}/${entry.repository}/manifests/${entry.image.manifestDigest}`, {
      headers: { authorization: auth, accept: OCI_MANIFEST },
    });
    const body = Buffer.from(await got.arrayBuffer());
    if (entry.repository !== repository) {
      for (const blob of entry.image.blobs) {
        const mounted = await fetch(
          `${base}/${repository}/blobs/uploads/?mount=${blob.digest}&from=${entry.repository}`,
          { method: 'POST', headers: { authorization: auth } },
        );
        assert.equal(mounted.status, 201, `mount ${blob.digest}`);
      }
      const put = await fetch(`${base}/${repository}/manifests/${entry.image.manifestDigest}`, {
        method: 'PUT',
        headers: { authorization: auth, 'content-type': OCI_MANIFEST },
        body,
      });
      assert.equal(put.status, 201, await put.text());
    }
    manifests.push({
      mediaType: OCI_MANIFEST,
      digest: entry.image.manifestDigest,
      size: body.length,
      platform: { os: 'linux', architecture: entry.arch },
    });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
  const put = await fetch(`${base}/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': OCI_INDEX },
    body: index,
  });
  assert.equal(put.status, 201, await put.text());
}
