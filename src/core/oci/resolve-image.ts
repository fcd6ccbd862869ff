import { createHash } from 'node:crypto';
import { WarrenError } from '../errors.js';
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  type ParsedManifest,
  type Platform,
  parseManifest,
  selectPlatform,
} from './media-types.js';
import { type ImageReference, parseImageReference } from './reference.js';
import type { RegistryClient } from './registry-client.js';
import type { Upstreams } from './upstreams.js';

/** An image's blobs as the registry serves them: what a preheat warms. */
export interface ImageBlobs {
  reference: ImageReference;
  /** The image manifest's digest (the platform's one when the reference names an index). */
  manifestDigest: string;
  /** Config first, then the layers; each with its blob URL on the registry's API. */
  blobs: Array<{ digest: string; size: number; url: string }>;
}

type ImageManifest = Extract<ParsedManifest, { kind: 'image' }>;

/**
 * Follows a tag or digest to one platform's image manifest: an index is
 * narrowed to `platform` (the error lists what it has instead), an index
 * inside an index is refused. `fetch` gets the digest it must match, if any.
 */
export async function resolveToImage(
  fetch: (tagOrDigest: string) => Promise<{ digest: string; manifest: ParsedManifest }>,
  tagOrDigest: string,
  platform: Platform,
  name: string,
): Promise<{ digest: string; manifest: ImageManifest }> {
  let { digest, manifest } = await fetch(tagOrDigest);
  if (manifest.kind === 'index') {
    const chosen: Descriptor | undefined = selectPlatform(manifest.manifests, platform);
    if (!chosen) {
      const offered = manifest.manifests
        .map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}` : '?'))
        .join(', ');
      throw new WarrenError(
        'PLATFORM_NOT_FOUND',
        `${name} has no ${platform.os}/${platform.architecture} image (it has: ${offered || 'none'})`,
        404,
      );
    }
    ({ digest, manifest } = await fetch(chosen.digest));
  }
  if (manifest.kind !== 'image') {
    throw new WarrenError('BAD_MANIFEST', `${name}: an index inside an index is not supported`, 502);
  }
  return { digest, manifest };
}

/** `os/arch[/variant]`, as Docker's --platform writes it. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]{1,32}$/.test(p))) {
    throw new WarrenError(
      'BAD_PLATFORM',
      `platform '${value}' is not os/arch[/variant] (e.g. linux/amd64)`,
      400,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/**
 * Resolves an image reference on one of the configured registries to its
 * manifest and blob URLs: a tag is looked up fresh, a digest is checked
 * against the bytes, an index is narrowed to `platform`. Only registries in
 * `upstreams` are asked, so a caller cannot point the resolver at any host.
 */
export async function resolveImageBlobs(
  client: RegistryClient,
  upstreams: Upstreams,
  ref: string,
  platform: Platform,
  signal?: AbortSignal,
): Promise<ImageBlobs> {
  const reference = parseImageReference(ref);
  const upstream = upstreams.host(reference.registry);
  if (!upstream) {
    throw new WarrenError(
      'REGISTRY_NOT_CONFIGURED',
      `registry '${reference.registry}' of image '${ref}' is not in this component's registries`,
      400,
    );
  }
  const base = `${upstream.url}/v2/${reference.repository}`;
  const fetchManifest = async (tagOrDigest: string) => {
    const res = await client.request(`${base}/manifests/${tagOrDigest}`, {
      method: 'GET',
      accept: MANIFEST_ACCEPT,
      maxBytes: MAX_MANIFEST_BYTES,
      signal,
    });
    if (res.status === 404) {
      throw new WarrenError(
        'IMAGE_NOT_FOUND',
        `image '${ref}': ${reference.repository}:${tagOrDigest} not found`,
        404,
      );
    }
    if (res.status !== 200) {
      throw new WarrenError(
        'REGISTRY_STATUS',
        `registry answered HTTP ${res.status} for the manifest of '${ref}'`,
        502,
      );
    }
    const digest = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    if (tagOrDigest.startsWith('sha256:') && digest !== tagOrDigest) {
      throw new WarrenError(
        'DIGEST_MISMATCH',
        `manifest of '${ref}' has ${digest}, expected ${tagOrDigest}`,
        502,
      );
    }
    const type = res.headers['content-type'];
    return { digest, manifest: parseManifest(res.body, Array.isArray(type) ? type[0] : type) };
  };

  const { digest, manifest } = await resolveToImage(
    fetchManifest,
    reference.digest ?? reference.tag ?? 'latest',
    platform,
    `image '${ref}'`,
  );
  return {
    reference,
    manifestDigest: digest,
    blobs: [manifest.config, ...manifest.layers].map((d) => ({
      digest: d.digest,
      size: d.size,
      url: `${base}/blobs/${d.digest}`,
    })),
  };
}
