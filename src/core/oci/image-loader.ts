import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Client, type Dispatcher, Pool } from 'undici';
import { errorMessage, WarrenError } from '../errors.js';
import {
  type ArchiveEntry,
  configEntryName,
  layerEntryName,
  manifestJson,
  tarStream,
} from './image-archive.js';
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  type Platform,
  parseManifest,
} from './media-types.js';
import { type ImageReference, isDigest, parseImageReference } from './reference.js';
import { readBounded } from './registry-auth.js';
import { resolveToImage } from './resolve-image.js';

/**
 * Puts an image into Docker Engine through the local peer, so that Docker
 * never talks to a registry itself: the manifest (an index resolved to the
 * platform) and every blob come from the peer's registry mirror on loopback
 * (blobs as P2P tasks, each checked against its digest), and Docker gets a
 * `docker load` archive built on the fly and streamed into `POST
 * /images/load` over its unix socket. No layer is ever held in memory.
 */

export interface PullOptions {
  /** An image reference: `registry.example.com:5000/app:1.0`, `busybox`, `repo@sha256:…`. */
  reference: string;
  /** The local peer's registry mirror, e.g. `http://127.0.0.1:5000`. */
  mirror: string;
  platform?: Platform;
  /** Docker Engine's socket; without it the image is only pulled through the peer (and checked). */
  dockerSocket?: string;
  /** Called once the manifest is known, before any blob. */
  onImage?(image: ResolvedImage): void;
  /** Bytes of one blob (config or layer) handed on so far. */
  onProgress?(digest: string, done: number, size: number): void;
  signal?: AbortSignal;
}

export interface ResolvedImage {
  reference: ImageReference;
  /** Digest of the image manifest (the platform's one when the reference named an index). */
  manifestDigest: string;
  config: Descriptor;
  layers: Descriptor[];
  /** What Docker will call the image; none for a reference by digest only. */
  repoTags: string[];
}

export interface PullResult extends ResolvedImage {
  /** Docker's image ID: the config's digest. */
  imageId: string;
  loaded: boolean;
  /** Docker's own words ("Loaded image: …"). */
  dockerMessages: string[];
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };
/** Blob requests opened ahead of the one being streamed, so the peer downloads them meanwhile. */
const PREFETCH = 4;

export async function pullImage(options: PullOptions): Promise<PullResult> {
  const reference = parseImageReference(options.reference);
  const mirror = new MirrorReader(options.mirror, reference, options.signal);
  try {
    const image = await mirror.resolve(options.platform ?? DEFAULT_PLATFORM);
    options.onImage?.(image);
    const archive = Readable.from(tarStream(archiveEntries(image, mirror, options)), { objectMode: false });
    let dockerMessages: string[] = [];
    if (options.dockerSocket)
      dockerMessages = await loadIntoDocker(options.dockerSocket, archive, options.signal);
    else await finished(archive.resume()); // pulled through the peer and checked, nothing loaded
    return {
      ...image,
      imageId: image.config.digest,
      loaded: options.dockerSocket !== undefined,
      dockerMessages,
    };
  } finally {
    await mirror.close();
  }
}

/** manifest.json, then the config, then the layers; blobs requested a few ahead. */
async function* archiveEntries(
  image: ResolvedImage,
  mirror: MirrorReader,
  options: PullOptions,
): AsyncGenerator<ArchiveEntry> {
  const blobs = [image.config, ...image.layers];
  const manifest = manifestJson({
    config: configEntryName(image.config.digest),
    repoTags: image.repoTags,
    layers: image.layers.map((l) => layerEntryName(l.digest)),
  });
  yield { name: 'manifest.json', size: manifest.length, body: manifest };
  const opened: Promise<Dispatcher.ResponseData>[] = [];
  const open = (i: number) => {
    const blob = blobs[i];
    if (!blob) return;
    opened[i] = mirror.openBlob(blob);
    opened[i].catch(() => undefined); // seen when its turn comes; not an unhandled rejection before
  };
  for (let i = 0; i < PREFETCH; i++) open(i);
  try {
    for (let i = 0; i < blobs.length; i++) {
      const blob = blobs[i]!;
      const response = await opened[i]!;
      open(i + PREFETCH);
      yield {
        name: i === 0 ? configEntryName(blob.digest) : layerEntryName(blob.digest),
        size: blob.size,
        body: verified(blob, response.body, options),
      };
    }
  } finally {
    // A failure (or Docker giving up) leaves no request open behind it.
    for (const pending of opened) pending?.then((r) => r.body.destroy()).catch(() => undefined);
  }
}

/**
 * A blob's bytes, hashed as they pass; the last chunk is held back until the
 * whole blob matched its digest, so Docker never receives a complete wrong
 * layer (the peer checked it already; this guards against a wrong mirror).
 */
async function* verified(blob: Descriptor, body: AsyncIterable<Buffer>, options: PullOptions) {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  let done = 0;
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      if (held) {
        yield held;
        done += held.length;
        options.onProgress?.(blob.digest, done, blob.size);
      }
      held = chunk;
    }
  } catch (err) {
    // The peer cuts a blob whose download fails (a bad piece, the wrong
    // content from the registry) rather than hand over bytes it cannot vouch for.
    throw new WarrenError(
      'BLOB_CUT',
      `blob ${blob.digest} was cut off after ${done} of ${blob.size} bytes (${errorMessage(err)}): its download through the peer failed; see 'warren task ls' and the peer's log`,
      502,
    );
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== blob.digest) {
    throw new WarrenError('DIGEST_MISMATCH', `blob ${blob.digest} arrived with ${digest}`, 502);
  }
  if (held) {
    yield held;
    options.onProgress?.(blob.digest, done + held.length, blob.size);
  }
}

/** Reads manifests and blobs of one repository from the peer's registry mirror. */
class MirrorReader {
  private readonly client: Pool;
  private readonly base: string;

  constructor(
    mirror: string,
    private readonly reference: ImageReference,
    private readonly signal?: AbortSignal,
  ) {
    let url: URL;
    try {
      url = new URL(mirror);
    } catch {
      throw new WarrenError('BAD_MIRROR', `mirror '${mirror}' is not a URL like http://127.0.0.1:5000`, 400);
    }
    this.client = new Pool(url.origin, {
      // Five minutes of silence is a stuck peer, not a slow download (that stalls and reschedules sooner).
      bodyTimeout: 300_000,
      headersTimeout: 300_000,
      connections: PREFETCH + 1,
    });
    this.base = url.origin;
  }

  /** `ns=` names the registry: the mirror serves several, and the image names which one. */
  private path(kind: 'manifests' | 'blobs', ref: string): string {
    const { registry, repository } = this.reference;
    return `/v2/${repository}/${kind}/${ref}?ns=${encodeURIComponent(registry)}`;
  }

  async resolve(platform: Platform): Promise<ResolvedImage> {
    const ref = this.reference;
    const { digest, manifest } = await resolveToImage(
      (tagOrDigest) => this.manifest(tagOrDigest, isDigest(tagOrDigest) ? tagOrDigest : undefined),
      ref.digest ?? ref.tag ?? 'latest',
      platform,
      this.name(),
    );
    return {
      reference: ref,
      manifestDigest: digest,
      config: manifest.config,
      layers: manifest.layers,
      repoTags: ref.tag ? [`${ref.registry}/${ref.repository}:${ref.tag}`] : [],
    };
  }

  private async manifest(ref: string, expected: string | undefined) {
    const res = await this.get(this.path('manifests', ref), { accept: MANIFEST_ACCEPT });
    const body = await readBounded(res.body, MAX_MANIFEST_BYTES, `manifest ${ref}`);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (expected && digest !== expected) {
      throw new WarrenError(
        'DIGEST_MISMATCH',
        `manifest ${expected} of ${this.name()} arrived with ${digest}`,
        502,
      );
    }
    const type = res.headers['content-type'];
    return { digest, manifest: parseManifest(body, Array.isArray(type) ? type[0] : type) };
  }

  async openBlob(blob: Descriptor): Promise<Dispatcher.ResponseData> {
    const res = await this.get(this.path('blobs', blob.digest), {});
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length !== blob.size) {
      res.body.destroy();
      throw new WarrenError(
        'BLOB_SIZE_MISMATCH',
        `blob ${blob.digest} is ${length} bytes, the manifest says ${blob.size}`,
        502,
      );
    }
    return res;
  }

  private async get(path: string, headers: Record<string, string>): Promise<Dispatcher.ResponseData> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.client.request({ method: 'GET', path, headers, signal: this.signal });
    } catch (err) {
      throw new WarrenError(
        'MIRROR_UNREACHABLE',
        `the peer's registry mirror at ${this.base} is unreachable (${errorMessage(err)}): is the peer running with mirror.listen set?`,
        503,
      );
    }
    if (res.statusCode !== 200) {
      const text = (await readBounded(res.body, 64 * 1024, 'error').catch(() => Buffer.alloc(0))).toString();
      let message = text.slice(0, 500);
      try {
        const first = (JSON.parse(text) as { errors?: { code: string; message: string }[] }).errors?.[0];
        if (first) message = `${first.code}: ${first.message}`;
      } catch {}
      throw new WarrenError(
        'MIRROR_ERROR',
        `${this.name()}: the mirror answered ${res.statusCode} (${message})`,
        502,
      );
    }
    return res;
  }

  private name(): string {
    return `${this.reference.registry}/${this.reference.repository}`;
  }

  close(): Promise<void> {
    return this.client.destroy();
  }
}

/**
 * Streams the archive into `POST /images/load` and reads Docker's answer: a
 * stream of JSON messages, where an error is a message too (the status is
 * already 200 by then).
 */
async function loadIntoDocker(
  socketPath: string,
  archive: Readable,
  signal?: AbortSignal,
): Promise<string[]> {
  const docker = new Client('http://docker', { socketPath, bodyTimeout: 0, headersTimeout: 0 });
  let archiveError: unknown;
  archive.once('error', (err) => {
    archiveError = err;
  });
  try {
    let res: Dispatcher.ResponseData;
    try {
      res = await docker.request({
        method: 'POST',
        path: '/images/load?quiet=1',
        headers: { 'content-type': 'application/x-tar' },
        body: archive,
        signal,
      });
    } catch (err) {
      if (archiveError) throw archiveError;
      const code = (err as { code?: string }).code;
      throw new WarrenError(
        code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES'
          ? 'DOCKER_UNREACHABLE'
          : 'DOCKER_LOAD_FAILED',
        `cannot load into Docker at ${socketPath}: ${errorMessage(err)}`,
        502,
      );
    }
    const text = (await readBounded(res.body, 1024 * 1024, 'Docker answer')).toString('utf8');
    if (archiveError) throw archiveError;
    const messages: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let message: { stream?: string; error?: string; errorDetail?: { message?: string }; message?: string };
      try {
        message = JSON.parse(line);
      } catch {
        message = { error: line };
      }
      const error =
        message.errorDetail?.message ??
        message.error ??
        (res.statusCode >= 400 ? message.message : undefined);
      if (error) throw new WarrenError('DOCKER_LOAD_FAILED', `Docker refused the image: ${error}`, 502);
      if (message.stream?.trim()) messages.push(message.stream.trim());
    }
    if (res.statusCode >= 400) {
      throw new WarrenError(
        'DOCKER_LOAD_FAILED',
        `Docker answered ${res.statusCode}: ${text.slice(0, 500)}`,
        502,
      );
    }
    return messages;
  } finally {
    archive.destroy();
    await docker.destroy();
  }
}
