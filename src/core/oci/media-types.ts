import { WarrenError } from '../errors.js';
import { isDigest } from './reference.js';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Every manifest type Warren understands, for an Accept header (indexes first). */
export const MANIFEST_TYPES = [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST] as const;
export const MANIFEST_ACCEPT = MANIFEST_TYPES.join(', ');
/** Manifests are small; a bigger one is refused rather than buffered. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function isIndexType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] };

/**
 * Parses an image manifest or index (Docker schema 2 or OCI). The media type
 * comes from the document, else from the Content-Type it was served with.
 * Every descriptor must have a sha256 digest and a non-negative size.
 */
export function parseManifest(body: Uint8Array, contentType?: string): ParsedManifest {
  const bad = (why: string) => new WarrenError('BAD_MANIFEST', `manifest: ${why}`, 502);
  if (body.length > MAX_MANIFEST_BYTES) throw bad(`over ${MAX_MANIFEST_BYTES} bytes`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad('not a JSON object');
  if (doc.schemaVersion !== 2) throw bad(`schemaVersion ${String(doc.schemaVersion)} (only 2 is supported)`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const served = contentType?.split(';')[0]?.trim();
  const mediaType =
    declared ?? (served && MANIFEST_TYPES.includes(served as never) ? served : undefined) ?? guessType(doc);
  if (isIndexType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw bad('an index without manifests');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((d) => descriptor(d, bad)) };
  }
  if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST)
    throw bad(`unsupported media type ${mediaType}`);
  if (!Array.isArray(doc.layers)) throw bad('an image manifest without layers');
  return {
    kind: 'image',
    mediaType,
    config: descriptor(doc.config, bad),
    layers: doc.layers.map((d) => descriptor(d, bad)),
  };
}

/** OCI documents may leave mediaType out: an index has `manifests`, an image has `config`. */
function guessType(doc: Record<string, unknown>): string {
  return Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
}

function descriptor(value: unknown, bad: (why: string) => Error): Descriptor {
  const d = value as Record<string, unknown> | null;
  if (!d || typeof d !== 'object') throw bad('a descriptor is not an object');
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw bad(`descriptor digest '${String(d.digest)}' is not sha256:<64 lowercase hex>`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw bad(`descriptor ${d.digest} has no valid size`);
  }
  const out: Descriptor = {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: d.size,
  };
  const p = d.platform as Record<string, unknown> | undefined;
  if (p && typeof p.os === 'string' && typeof p.architecture === 'string') {
    out.platform = { os: p.os, architecture: p.architecture };
    if (typeof p.variant === 'string' && p.variant) out.platform.variant = p.variant;
  }
  return out;
}

/** The platform this process runs on, in OCI terms. */
export function hostPlatform(arch: string = process.arch): Platform {
  switch (arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm':
      return { os: 'linux', architecture: 'arm', variant: 'v7' };
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    default:
      return { os: 'linux', architecture: arch };
  }
}

/**
 * Picks the manifest for `want` from an index: same OS and architecture;
 * with a variant wanted, the same variant first, then one without a variant
 * (arm64's 'v8' is often left out). Attestation entries (platform
 * unknown/unknown) never match.
 */
export function selectPlatform(manifests: readonly Descriptor[], want: Platform): Descriptor | undefined {
  const candidates = manifests.filter(
    (d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture,
  );
  if (want.variant) {
    return (
      candidates.find((d) => d.platform!.variant === want.variant) ??
      candidates.find((d) => !d.platform!.variant)
    );
  }
  return candidates.find((d) => !d.platform!.variant) ?? candidates[0];
}
