import { WarrenError } from '../errors.js';

/** An image reference split into its parts, Docker Hub defaults applied. */
export interface ImageReference {
  /** Registry host[:port] as written in image names ('docker.io' for Docker Hub). */
  registry: string;
  /** Repository path in that registry ('library/busybox' for Docker Hub's 'busybox'). */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API actually is. */
export const DOCKER_HUB_API = 'https://registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** A registry host: a DNS name or IPv4 address, optional port (what Docker accepts, minus IPv6 brackets). */
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$/;
const MAX_NAME = 255;

export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME && name.split('/').every((c) => COMPONENT.test(c));
}
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}
export function isRegistryHost(host: string): boolean {
  return host.length <= 255 && HOST.test(host);
}

/**
 * Parses `[registry/]repo[:tag][@digest]` the way Docker does: the first
 * path component is a registry when it has a '.' or ':' or is 'localhost';
 * otherwise the image is on Docker Hub, where one-component names live under
 * 'library/'. Without tag or digest the tag is 'latest'. Only sha256 digests.
 */
export function parseImageReference(ref: string): ImageReference {
  const bad = (why: string) =>
    new WarrenError('BAD_IMAGE_REFERENCE', `image reference '${ref}': ${why}`, 400);
  if (ref.length === 0 || ref.length > 512) throw bad('empty or too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad(`digest '${digest}' is not sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw bad(`tag '${tag}' is not valid`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    rest = rest.slice(slash + 1);
    if (!isRegistryHost(registry)) throw bad(`registry '${registry}' is not a host[:port]`);
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (!isRepositoryName(rest)) throw bad(`repository '${rest}' is not valid (lowercase components)`);
  if (!tag && !digest) tag = 'latest';
  return { registry, repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference written back out in full (`registry/repo:tag@digest`). */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}
