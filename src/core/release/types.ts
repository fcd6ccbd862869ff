import { WarrenError } from '../errors.js';

/**
 * An app release (issue 5): a zip holding exactly `app.yml` and
 * `docker-compose.yml` (plus an optional icon), and beside it a detached
 * Ed25519 signature file `<zip>.sig`. This module is the shared contract of
 * the validator (validate.ts), the signatures (signature.ts), the CLI, the
 * store (on upload) and every instance (before install).
 */

/** Bounds the validator enforces; the defaults are the format's. */
export interface ReleaseLimits {
  /** Entries in the zip's central directory. */
  maxEntries: number;
  /** Compressed size of the zip file. */
  maxZipBytes: number;
  /** Sum of uncompressed bytes of all entries, counted while inflating. */
  maxTotalBytes: number;
  /** Largest uncompressed/compressed ratio of one entry, checked while inflating. */
  maxRatio: number;
  /** Largest YAML document (app.yml, docker-compose.yml). */
  maxYamlBytes: number;
  /** Largest icon. */
  maxIconBytes: number;
}

export const DEFAULT_RELEASE_LIMITS: ReleaseLimits = {
  maxEntries: 100,
  maxZipBytes: 10 * 1024 * 1024,
  maxTotalBytes: 10 * 1024 * 1024,
  maxRatio: 100,
  maxYamlBytes: 256 * 1024,
  maxIconBytes: 512 * 1024,
};

/** The parsed, validated `app.yml`. */
export interface AppManifest {
  /** `^[a-z][a-z0-9-]{1,62}$`, stable across versions. */
  id: string;
  name: string;
  /** Semantic version (semver 2.0). */
  version: string;
  /** Maintainer name or handle, as shown in the store. */
  maintainer: string;
  description: string;
  /** The compose service the gateway routes to. */
  mainService: string;
  /** The port the main service listens on inside its network. */
  internalPort: number;
  /** Path the app is served under, e.g. '/'. */
  urlPath: string;
  /** Path polled after install/update, e.g. '/healthz'. */
  healthCheckPath: string;
  /** Entry name of the icon in the zip ('icon.png' or 'icon.svg'), if any. */
  icon?: string;
  /** What each container asks for (app.yml `resources`); the instance clamps it to the admin's caps. */
  resources?: AppResources;
}

/** Per-container resource requests; absent fields mean "the instance's cap". */
export interface AppResources {
  /** Bytes of memory (at least 6 MiB, Docker's minimum). */
  memoryBytes?: number;
  /** CPUs, e.g. 0.5. */
  cpus?: number;
  /** Processes. */
  pids?: number;
}

/** What a valid release holds, once every check passed. */
export interface ValidatedRelease {
  manifest: AppManifest;
  /** The docker-compose.yml text as in the zip (UTF-8). */
  composeYaml: string;
  /** The parsed compose document (already checked against the allowlist). */
  compose: Record<string, unknown>;
  /** SHA-256 (hex) of the zip file's bytes: what the signature and the store index cover. */
  sha256: string;
  /** Size of the zip file. */
  zipBytes: number;
}

/**
 * Why a release was refused: `code` is stable (e.g. ZIP_BOMB, ZIP_SLIP,
 * COMPOSE_FORBIDDEN_KEY), `where` names the entry and/or key path
 * (`docker-compose.yml: services.web.ports[0]`).
 */
export class ReleaseError extends WarrenError {
  readonly where: string;

  constructor(code: string, where: string, message: string) {
    super(code, `${where}: ${message}`, 422);
    this.name = 'ReleaseError';
    this.where = where;
  }
}

/** The detached signature file (`<zip>.sig`, JSON). */
export interface ReleaseSignature {
  format: 'warren-release-signature/v1';
  app_id: string;
  version: string;
  /** SHA-256 (hex) of the zip. */
  sha256: string;
  /** The maintainer's Ed25519 public key, raw 32 bytes, base64. */
  public_key: string;
  /** Ed25519 signature (base64) over {@link signedMessage}. */
  signature: string;
}

/** The exact bytes a release signature covers: domain-separated, one field a line. */
export function signedMessage(appId: string, version: string, sha256: string): Buffer {
  return Buffer.from(`warren-release-signature/v1\n${appId}\n${version}\n${sha256}\n`, 'utf8');
}
