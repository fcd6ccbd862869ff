import { hasControlCharacter } from './paths.js';
import { ReleaseError } from './types.js';

/**
 * Checks of single compose values: image references, volume mounts, and the
 * small value grammars (durations, env, paths). Pure: no I/O.
 * Every failure names its key path in `docker-compose.yml`.
 */

export const COMPOSE_YML_WHERE = 'docker-compose.yml';

export function composeError(code: string, path: string, message: string): ReleaseError {
  return new ReleaseError(code, `${COMPOSE_YML_WHERE}: ${path}`, message);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

// --- images ---------------------------------------------------------------

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]{1,5})?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface ImageReference {
  name: string;
  tag?: string;
  digest?: string;
}

/** The reference grammar of the distribution spec; undefined when `text` does not match it. */
export function parseImageReference(text: string): ImageReference | undefined {
  if (text.length === 0 || text.length > 512) return undefined;
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return undefined;
  }
  if (rest.length > 255 || !NAME.test(rest)) return undefined;
  return { name: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** A pinned image: a digest (best), or a tag other than `latest`. */
export function checkImage(value: unknown, path: string): void {
  if (typeof value !== 'string') throw composeError('COMPOSE_INVALID', path, 'must be a string');
  const ref = parseImageReference(value);
  if (!ref) throw composeError('COMPOSE_INVALID', path, `${show(value)} is not an image reference`);
  if (ref.digest) return;
  if (ref.tag === undefined) {
    throw composeError(
      'COMPOSE_IMAGE_UNPINNED',
      path,
      `${show(value)} has no tag; pin it by digest (name@sha256:…) or at least a version tag`,
    );
  }
  if (ref.tag === 'latest') {
    throw composeError(
      'COMPOSE_IMAGE_UNPINNED',
      path,
      `${show(value)} uses the moving tag latest; pin it by digest (name@sha256:…) or a version tag`,
    );
  }
}

// --- volumes --------------------------------------------------------------

/** A named volume; also what keeps a host path (`/x`, `./x`, `~/x`, `C:\x`, `${HOME}`) out. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;
const MOUNT_MODES = new Set(['ro', 'rw']);

/**
 * One entry of a service's `volumes`: a named or anonymous volume, or a tmpfs
 * (long syntax). Anything that mounts a host path is COMPOSE_BIND_MOUNT.
 */
export function checkServiceVolume(value: unknown, path: string, declared: ReadonlySet<string>): void {
  if (typeof value === 'string') {
    checkShortVolume(value, path, declared);
    return;
  }
  if (!isMapping(value)) throw composeError('COMPOSE_INVALID', path, 'must be a string or a mapping');
  const type = value['type'];
  if (type === 'bind' || 'bind' in value) {
    throw composeError('COMPOSE_BIND_MOUNT', path, 'bind mounts expose host paths; use a named volume');
  }
  if (type === 'npipe') throw composeError('COMPOSE_BIND_MOUNT', path, 'mounts a host named pipe');
  if (type !== 'volume' && type !== 'tmpfs') {
    throw composeError('COMPOSE_INVALID', `${path}.type`, `${show(type)}; allowed: volume, tmpfs`);
  }
  const allowed =
    type === 'volume' ? ['type', 'source', 'target', 'read_only', 'volume'] : ['type', 'target', 'tmpfs'];
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw composeError('COMPOSE_FORBIDDEN_KEY', `${path}.${key}`, `not allowed in a ${type} mount`);
    }
  }
  checkContainerPath(value['target'], `${path}.target`);
  if (value['read_only'] !== undefined && typeof value['read_only'] !== 'boolean') {
    throw composeError('COMPOSE_INVALID', `${path}.read_only`, 'must be true or false');
  }
  if (type === 'volume' && value['source'] !== undefined) {
    checkVolumeSource(value['source'], `${path}.source`, declared);
  }
  const options = value[type === 'volume' ? 'volume' : 'tmpfs'];
  if (options !== undefined) {
    const keys = type === 'volume' ? ['nocopy'] : ['size', 'mode'];
    if (!isMapping(options) || Object.keys(options).some((k) => !keys.includes(k))) {
      throw composeError('COMPOSE_FORBIDDEN_KEY', `${path}.${type}`, `only ${keys.join(', ')} are allowed`);
    }
  }
}

function checkShortVolume(spec: string, path: string, declared: ReadonlySet<string>): void {
  const parts = spec.split(':');
  if (parts.length === 1) {
    checkContainerPath(spec, path);
    return;
  }
  if (looksLikeHostPath(parts[0]!) || parts.length > 3) {
    throw composeError('COMPOSE_BIND_MOUNT', path, `${show(spec)} mounts a host path; use a named volume`);
  }
  checkVolumeSource(parts[0], path, declared);
  checkContainerPath(parts[1], path);
  if (parts.length === 3 && !MOUNT_MODES.has(parts[2]!)) {
    throw composeError('COMPOSE_INVALID', path, `mode ${show(parts[2])}; allowed: ro, rw`);
  }
}

function looksLikeHostPath(source: string): boolean {
  return /^[./~$\\]/.test(source) || /[/\\]/.test(source) || /^[A-Za-z]$/.test(source);
}

function checkVolumeSource(source: unknown, path: string, declared: ReadonlySet<string>): void {
  if (typeof source !== 'string' || looksLikeHostPath(source) || !VOLUME_NAME.test(source)) {
    throw composeError('COMPOSE_BIND_MOUNT', path, `${show(source)} is not a named volume`);
  }
  if (!declared.has(source)) {
    throw composeError(
      'COMPOSE_INVALID',
      path,
      `volume ${show(source)} is not declared under top-level volumes`,
    );
  }
}

/** A path inside the container: absolute, no `..`, no interpolation. */
export function checkContainerPath(value: unknown, path: string): void {
  if (
    typeof value !== 'string' ||
    !value.startsWith('/') ||
    value.length > 512 ||
    hasControlCharacter(value) ||
    /[\\$]/.test(value) ||
    value.split('/').includes('..')
  ) {
    throw composeError('COMPOSE_INVALID', path, `${show(value)} is not an absolute container path`);
  }
}

/** A top-level volume: Warren creates it per app; anything that picks where it lives is refused. */
export function checkTopLevelVolume(name: string, value: unknown, path: string): void {
  if (!VOLUME_NAME.test(name)) throw composeError('COMPOSE_INVALID', path, 'is not a valid volume name');
  if (value === null) return;
  if (!isMapping(value)) throw composeError('COMPOSE_INVALID', path, 'must be empty or a mapping');
  if ('driver_opts' in value) {
    throw composeError(
      'COMPOSE_BIND_MOUNT',
      `${path}.driver_opts`,
      'driver options can bind host paths (o: bind, device:); volumes are plain named volumes',
    );
  }
  for (const key of Object.keys(value)) {
    const why =
      key === 'external' || key === 'name'
        ? "would reach a volume outside the app's own"
        : 'is not allowed (volumes are plain named volumes)';
    throw composeError('COMPOSE_FORBIDDEN_KEY', `${path}.${key}`, why);
  }
}

// --- small grammars --------------------------------------------------------

const DURATION = /^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+$/;

export function checkDuration(value: unknown, path: string): void {
  if (typeof value !== 'string' || value.length > 32 || !DURATION.test(value)) {
    throw composeError('COMPOSE_INVALID', path, `${show(value)} is not a duration like 30s or 1m30s`);
  }
}

export function checkStringOrList(value: unknown, path: string): void {
  if (typeof value === 'string') return;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return;
  throw composeError('COMPOSE_INVALID', path, 'must be a string or a list of strings');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export function checkEnvironment(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const name = typeof item === 'string' ? item.split('=', 1)[0]! : '';
      if (!ENV_NAME.test(name)) {
        throw composeError('COMPOSE_INVALID', `${path}[${i}]`, 'must be NAME=value or NAME');
      }
    });
    return;
  }
  if (!isMapping(value)) throw composeError('COMPOSE_INVALID', path, 'must be a mapping or a list');
  for (const [name, v] of Object.entries(value)) {
    if (!ENV_NAME.test(name)) throw composeError('COMPOSE_INVALID', `${path}.${name}`, 'bad variable name');
    if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) {
      throw composeError('COMPOSE_INVALID', `${path}.${name}`, 'must be a string, number, boolean or empty');
    }
  }
}
