import { timingSafeEqual } from 'node:crypto';
import { compareSemver } from './semver.js';
import { parseSignature, type VerifiedSignature, verifyReleaseSignature } from './signature.js';
import { type IndexApp, type IndexVersion, releaseInIndex, type StoreIndex } from './store-index.js';
import { ReleaseError, type ReleaseLimits, type ValidatedRelease } from './types.js';
import { validateRelease } from './validate.js';

/*
 * What every client that installs a release from a store checks once the
 * bytes are on disk (the CLI's `warren app fetch` and every cloud instance):
 * the index lists exactly these bytes for this app version and has not
 * yanked them; the release passes the validator here (never trusting the
 * store's validation); app.yml names the app and version asked for; the
 * detached signature is by the maintainer key the index binds the app id to.
 * And for an update of an installed app: the maintainer key did not change
 * and the version does not go back.
 */

/** What an instance already runs of the app (absent for a first install). */
export interface InstalledRelease {
  version: string;
  /** The maintainer key it was installed with (raw 32 bytes, base64). */
  maintainerKey: string;
}

export interface FetchedRelease {
  appId: string;
  version: string;
  /** The zip as received. */
  zipPath: string;
  /** SHA-256 (hex) of the bytes received (computed while they arrived). */
  sha256: string;
  /** The detached signature file's text. */
  signatureText: string;
}

export interface VerifiedRelease {
  release: ValidatedRelease;
  app: IndexApp;
  version: IndexVersion;
  signature: VerifiedSignature;
}

/**
 * Refuses an update that changes the maintainer key (RELEASE_KEY_CHANGED) or
 * goes to an older version (RELEASE_DOWNGRADE). Pure; call it before
 * downloading (fail fast) and again after verifying.
 */
export function checkUpdate(
  installed: InstalledRelease | undefined,
  candidate: { appId: string; version: string; maintainerKey: string },
): void {
  if (!installed) return;
  const where = `release ${candidate.appId} ${candidate.version}`;
  const before = Buffer.from(installed.maintainerKey, 'base64');
  const after = Buffer.from(candidate.maintainerKey, 'base64');
  if (before.length !== after.length || !timingSafeEqual(before, after)) {
    throw new ReleaseError(
      'RELEASE_KEY_CHANGED',
      where,
      `is bound to another maintainer key than installed ${candidate.appId} ${installed.version}: an update may not change the maintainer key`,
    );
  }
  if (compareSemver(candidate.version, installed.version) < 0) {
    throw new ReleaseError(
      'RELEASE_DOWNGRADE',
      where,
      `is older than the installed version ${installed.version}: an update may not go back`,
    );
  }
}

/**
 * Every check of a fetched release, in order: index (digest, not yanked),
 * update rules, the validator, app.yml against the version asked for, the
 * signature against the index's maintainer key. Throws the first
 * ReleaseError (its code names the refusal).
 */
export async function verifyFetchedRelease(
  index: StoreIndex,
  fetched: FetchedRelease,
  options: { installed?: InstalledRelease; limits?: Partial<ReleaseLimits> } = {},
): Promise<VerifiedRelease> {
  const { app, version } = releaseInIndex(index, fetched);
  checkUpdate(options.installed, { ...fetched, maintainerKey: app.maintainer_key });
  const release = await validateRelease(fetched.zipPath, options.limits);
  const where = `release ${fetched.appId} ${fetched.version}`;
  if (release.sha256 !== fetched.sha256) {
    throw new ReleaseError(
      'RELEASE_DIGEST_MISMATCH',
      where,
      `changed on disk after it was received (SHA-256 ${release.sha256}, received ${fetched.sha256})`,
    );
  }
  if (release.manifest.id !== fetched.appId || release.manifest.version !== fetched.version) {
    throw new ReleaseError(
      'RELEASE_MANIFEST_MISMATCH',
      `${where}: app.yml`,
      `names ${release.manifest.id} ${release.manifest.version}, not the app version the index lists`,
    );
  }
  const sig = parseSignature(fetched.signatureText, `${where}: signature`);
  const signature = verifyReleaseSignature(sig, {
    sha256: release.sha256,
    appId: release.manifest.id,
    version: release.manifest.version,
    publicKey: Buffer.from(app.maintainer_key, 'base64'),
  });
  return { release, app, version, signature };
}
