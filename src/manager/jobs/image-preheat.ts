import type { RegistryAccess } from '../../core/oci/registry-access.js';
import { parsePlatform, resolveImageBlobs } from '../../core/oci/resolve-image.js';
import type { PreheatArgs } from './job-args.js';

/** Longest wait for the registry while a preheat job is being created. */
const RESOLVE_TIMEOUT_MS = 30_000;
const DEFAULT_PLATFORM = 'linux/amd64';

/**
 * An image preheat's blobs: the manifest is looked up on a registry of the
 * manager's config (with its account there), an index narrowed to the
 * platform; each blob (config and layers) becomes a content-addressed task
 * that the chosen hosts fetch from the registry with their own accounts.
 */
export async function resolvePreheatImage(
  registries: RegistryAccess,
  args: PreheatArgs,
): Promise<NonNullable<PreheatArgs['resolved']>> {
  const platform = parsePlatform(args.platform ?? DEFAULT_PLATFORM);
  const image = await resolveImageBlobs(
    registries.client,
    registries.upstreams,
    args.image!,
    platform,
    AbortSignal.timeout(RESOLVE_TIMEOUT_MS),
  );
  return {
    manifest_digest: image.manifestDigest,
    blobs: image.blobs.map((b) => ({ digest: b.digest, url: b.url })),
  };
}
