import { isDigest, isRepositoryName, isTag } from '../../core/oci/reference.js';
import type { Upstream, Upstreams } from '../../core/oci/upstreams.js';

/** An error in the OCI distribution format: `{"errors":[{"code","message"}]}`. */
export class OciError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  toJSON() {
    return { errors: [{ code: this.code, message: this.message, detail: null }] };
  }
}

/** A manifest or blob request: the upstream registry, the repository there, tag or digest. */
export interface ContentRoute {
  kind: 'manifests' | 'blobs';
  upstream: Upstream;
  repository: string;
  reference: string;
}

export type MirrorRoute = { kind: 'base' } | ContentRoute;

/**
 * Which upstream and repository a pull API request is for. In order:
 * containerd's `?ns=<registry host>` (never part of any task identity);
 * a first path component naming a registry alias (`mirror-host/<alias>/<repo>`);
 * otherwise `defaultRegistry` — Docker's registry-mirrors send Docker Hub
 * names that way, and so does a plain `mirror-host/<repo>:<tag>` pull. One-
 * component names on Docker Hub live under 'library/'.
 */
export function routeRequest(
  pathname: string,
  search: URLSearchParams,
  upstreams: Upstreams,
  defaultRegistry: string,
): MirrorRoute {
  if (pathname === '/v2' || pathname === '/v2/') return { kind: 'base' };
  const match = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(pathname);
  if (!match) throw new OciError(404, 'UNSUPPORTED', `this mirror serves only pulls: no route ${pathname}`);
  let name = match[1]!;
  const kind = match[2] as 'manifests' | 'blobs';
  const reference = match[3]!;
  let upstream: Upstream | undefined;
  const ns = search.get('ns');
  if (ns) {
    upstream = upstreams.host(ns);
    if (!upstream)
      throw new OciError(404, 'NAME_UNKNOWN', `registry '${ns}' (ns=) is not an upstream of this mirror`);
  } else {
    const slash = name.indexOf('/');
    const aliased = slash > 0 ? upstreams.alias(name.slice(0, slash)) : undefined;
    if (aliased) {
      upstream = aliased;
      name = name.slice(slash + 1);
    } else {
      upstream = upstreams.host(defaultRegistry);
      if (!upstream) {
        throw new OciError(
          404,
          'NAME_UNKNOWN',
          `no default registry is configured on this mirror for '${name}'`,
        );
      }
    }
  }
  if (upstream.host === 'docker.io' && !name.includes('/')) name = `library/${name}`;
  if (!isRepositoryName(name))
    throw new OciError(400, 'NAME_INVALID', `repository name '${name}' is not valid`);
  if (kind === 'blobs' && !isDigest(reference)) {
    throw new OciError(
      400,
      'DIGEST_INVALID',
      `blob reference '${reference}' is not sha256:<64 lowercase hex>`,
    );
  }
  if (kind === 'manifests' && !isDigest(reference) && !isTag(reference)) {
    throw new OciError(
      400,
      'MANIFEST_INVALID',
      `manifest reference '${reference}' is neither a tag nor a sha256 digest`,
    );
  }
  return { kind, upstream, repository: name, reference };
}

/**
 * A single `bytes=N-M` / `bytes=N-` range; undefined for no Range header or
 * one this mirror does not serve as a range (suffix, several ranges, other
 * units), which then gets the whole content, as HTTP allows.
 */
export function parseRange(header: string | undefined): { start: number; end?: number } | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  if (!match[2]) return { start };
  const end = Number(match[2]);
  return end >= start ? { start, end } : undefined;
}
