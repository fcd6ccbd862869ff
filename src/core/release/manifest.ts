import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { APP_YML, ICON_NAMES } from './paths.js';
import { isSemver } from './semver.js';
import { type AppManifest, type AppResources, ReleaseError } from './types.js';

/**
 * `app.yml`, the release's manifest. Its keys are snake_case, like the
 * compose file beside it and the store's JSON:
 *
 *   id: notes                      # ^[a-z][a-z0-9-]{1,62}$, stable across versions
 *   name: Notes
 *   version: 1.2.0                 # strict semver 2.0
 *   maintainer: Jane Doe
 *   description: Plain-text notes.
 *   main_service: web              # a service in docker-compose.yml
 *   internal_port: 8080            # 1..65535, inside the app's network
 *   url_path: /
 *   health_check_path: /healthz
 *   icon: icon.svg                 # optional: icon.png or icon.svg, in the zip
 *   resources:                     # optional, per container; clamped to the instance's caps
 *     memory: 256m                 # bytes, or a number with k/m/g (binary, like Docker's): >= 6m
 *     cpus: 0.5                    # 0.01..256
 *     pids: 256                    # 1..65536
 *
 * Pure: no I/O.
 */

export const APP_ID_PATTERN = '^[a-z][a-z0-9-]{1,62}$';
/** Service names as the compose check accepts them. */
export const SERVICE_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** An absolute URL path: no query, fragment, `..` segment, empty segment or control character. */
const URL_PATH_PATTERN = "^/(?:[A-Za-z0-9._~!$&'()*+,;=:@%-]+/?)*$";
const ONE_LINE_TEXT = '^[^\\u0000-\\u001f\\u007f]*$';
const TEXT = '^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f]*$';
/** Docker's memory grammar (binary units, case-insensitive): 268435456, 256m, 256MB, 1.5g, 512KiB. */
const MEMORY_PATTERN = /^([0-9]{1,15}(?:\.[0-9]{1,6})?) ?(?:b|([kmgt])(?:i?b)?)?$/i;
const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** Docker refuses a memory limit below 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

const ManifestSchema = Type.Object(
  {
    id: Type.String({ pattern: APP_ID_PATTERN }),
    name: Type.String({ minLength: 1, maxLength: 80, pattern: ONE_LINE_TEXT }),
    version: Type.String({ maxLength: 128 }),
    maintainer: Type.String({ minLength: 1, maxLength: 120, pattern: ONE_LINE_TEXT }),
    description: Type.String({ minLength: 1, maxLength: 4000, pattern: TEXT }),
    main_service: Type.String({ pattern: SERVICE_NAME_PATTERN }),
    internal_port: Type.Integer({ minimum: 1, maximum: 65535 }),
    url_path: Type.String({ maxLength: 200, pattern: URL_PATH_PATTERN }),
    health_check_path: Type.String({ maxLength: 200, pattern: URL_PATH_PATTERN }),
    icon: Type.Optional(Type.Union(ICON_NAMES.map((name) => Type.Literal(name)))),
    resources: Type.Optional(
      Type.Object(
        {
          memory: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 32 })])),
          cpus: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 256 })),
          pids: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
type ManifestDocument = Static<typeof ManifestSchema>;

const KEYS = new Set(Object.keys(ManifestSchema.properties));

/** The manifest from the parsed `app.yml` document; throws MANIFEST_INVALID naming the key. */
export function parseManifest(document: unknown): AppManifest {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ReleaseError('MANIFEST_INVALID', APP_YML, 'must be a mapping of keys to values');
  }
  for (const key of Object.keys(document)) {
    if (!KEYS.has(key)) {
      throw new ReleaseError(
        'MANIFEST_INVALID',
        `${APP_YML}: ${JSON.stringify(key).slice(0, 60)}`,
        `unknown key (known: ${[...KEYS].join(', ')})`,
      );
    }
  }
  const error = Value.Errors(ManifestSchema, document).First();
  if (error) {
    const key = error.path.replace(/^\//, '').replaceAll('/', '.') || '(document)';
    throw new ReleaseError('MANIFEST_INVALID', `${APP_YML}: ${key}`, error.message);
  }
  const doc = document as ManifestDocument;
  if (!isSemver(doc.version)) {
    throw new ReleaseError(
      'MANIFEST_INVALID',
      `${APP_YML}: version`,
      `${JSON.stringify(doc.version)} is not a semantic version (MAJOR.MINOR.PATCH[-pre][+build])`,
    );
  }
  for (const key of ['url_path', 'health_check_path'] as const) {
    if (/%(?![0-9A-Fa-f]{2})|%2[eEfF]|%5[cC]|%00/.test(doc[key]) || /(^|\/)\.\.?(\/|$)/.test(doc[key])) {
      throw new ReleaseError(
        'MANIFEST_INVALID',
        `${APP_YML}: ${key}`,
        'has a dot segment or an encoded separator',
      );
    }
  }
  return {
    id: doc.id,
    name: doc.name,
    version: doc.version,
    maintainer: doc.maintainer,
    description: doc.description,
    mainService: doc.main_service,
    internalPort: doc.internal_port,
    urlPath: doc.url_path,
    healthCheckPath: doc.health_check_path,
    ...(doc.icon !== undefined ? { icon: doc.icon } : {}),
    ...(doc.resources !== undefined ? { resources: parseResources(doc.resources) } : {}),
  };
}

function parseResources(doc: NonNullable<ManifestDocument['resources']>): AppResources {
  const resources: AppResources = {};
  if (doc.memory !== undefined) {
    const bytes = memoryBytes(doc.memory);
    if (Number.isNaN(bytes)) {
      throw new ReleaseError(
        'MANIFEST_INVALID',
        `${APP_YML}: resources.memory`,
        `${JSON.stringify(doc.memory)} is not a size like 256m, 1g or a number of bytes`,
      );
    }
    if (bytes < MIN_MEMORY_BYTES || bytes > 2 ** 50) {
      throw new ReleaseError(
        'MANIFEST_INVALID',
        `${APP_YML}: resources.memory`,
        `${JSON.stringify(doc.memory)} is outside 6m..1p (Docker refuses less than 6 MiB)`,
      );
    }
    resources.memoryBytes = bytes;
  }
  if (doc.cpus !== undefined) {
    if (Math.round(doc.cpus * 100) !== doc.cpus * 100 || doc.cpus < 0.01) {
      throw new ReleaseError(
        'MANIFEST_INVALID',
        `${APP_YML}: resources.cpus`,
        `${doc.cpus} must be a multiple of 0.01 (at least 0.01)`,
      );
    }
    resources.cpus = doc.cpus;
  }
  if (doc.pids !== undefined) resources.pids = doc.pids;
  return resources;
}

/** Bytes from Docker's memory grammar (binary units: 1k = 1024), or a whole number of bytes; NaN if neither. */
export function memoryBytes(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = MEMORY_PATTERN.exec(value);
  if (!match) return Number.NaN;
  return Math.floor(Number(match[1]) * MEMORY_UNITS[(match[2] ?? '').toLowerCase()]!);
}
