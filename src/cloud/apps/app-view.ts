import { errorMessage, WarrenError } from '../../core/errors.js';
import type { ValidatedRelease } from '../../core/release/types.js';
import type { AppState, AppsTable } from '../db/schema.js';
import type { AppRoute } from '../gateway/types.js';
import { clamp } from '../sandbox/plan.js';
import type { AppStatus, AppTarget, SandboxCaps } from '../sandbox/types.js';

/*
 * Pure views of an installed app: its row as the API shows it, what a
 * release asks for (the permissions the console shows before install), the
 * images its services need, and where the gateway sends its requests.
 */

/** An app as `GET /api/v1/apps` lists it. */
export interface AppJson {
  id: string;
  name: string;
  version: string;
  state: AppState;
  state_detail: string;
  url: string;
  official: boolean;
  access_mode: 'all' | 'chosen';
}

/** One app with its containers, as `GET /api/v1/apps/:id` shows it. */
export interface AppDetailJson extends AppJson {
  /** The sandbox's view: running, starting, stopped, unhealthy, partial, missing; null while installing. */
  health: AppStatus['state'] | null;
  services: Array<{ name: string; state: string; health: string; exit_code: number | null }>;
}

export function appJson(row: AppsTable, url: string): AppJson {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    state: row.state,
    state_detail: row.state_detail,
    url,
    official: Number(row.official) === 1,
    access_mode: row.access_mode,
  };
}

export function appDetailJson(row: AppsTable, url: string, status: AppStatus | undefined): AppDetailJson {
  return {
    ...appJson(row, url),
    health: status?.state ?? null,
    services: (status?.services ?? []).map((s) => ({
      name: s.service,
      state: s.state,
      health: s.health,
      exit_code: s.exitCode,
    })),
  };
}

/** What a release asks for, as the console shows it before install. */
export interface ReleasePermissions {
  services: Array<{ name: string; image: string }>;
  /** Named volumes (the app's data). */
  volumes: string[];
  main_service: string;
  port: number;
  /** The limits each container runs with: app.yml's requests clamped to the admin's caps. */
  resources: { memory_bytes: number; cpus: number; pids: number };
}

/** Compose services and their images, in file order. */
export function serviceImages(compose: Record<string, unknown>): Array<{ name: string; image: string }> {
  const services = compose.services as Record<string, { image?: unknown }> | undefined;
  return Object.entries(services ?? {}).map(([name, service]) => {
    if (typeof service?.image !== 'string') {
      // The validator requires an image on every service; this is a broken invariant.
      throw new WarrenError('COMPOSE_INVALID', `docker-compose.yml: services.${name}.image is missing`, 422);
    }
    return { name, image: service.image };
  });
}

export function releasePermissions(release: ValidatedRelease, caps: SandboxCaps): ReleasePermissions {
  // Exactly what the sandbox applies: the app's requests clamped to the caps.
  const limits = clamp(release.manifest.resources ?? {}, caps);
  return {
    services: serviceImages(release.compose),
    volumes: Object.keys((release.compose.volumes as Record<string, unknown> | undefined) ?? {}),
    main_service: release.manifest.mainService,
    port: release.manifest.internalPort,
    resources: { memory_bytes: limits.memoryBytes, cpus: limits.cpus, pids: limits.pids },
  };
}

/** `images` column: service -> image id; anything malformed reads as none loaded. */
export function parseImages(text: string): Record<string, string> {
  try {
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string' && /^sha256:[0-9a-f]{64}$/.test(e[1]),
      ),
    );
  } catch {
    return {};
  }
}

/** The manifest column's url_path ('/' when not yet known). */
export function urlPathOf(row: Pick<AppsTable, 'manifest'>): string {
  try {
    const path = (JSON.parse(row.manifest) as { urlPath?: unknown }).urlPath;
    return typeof path === 'string' && path.startsWith('/') ? path : '/';
  } catch {
    return '/';
  }
}

/** True once a release was verified for the row (its manifest is recorded). */
export function hasRelease(row: Pick<AppsTable, 'manifest'>): boolean {
  return row.manifest !== '' && row.manifest !== '{}';
}

/** `<step> failed: CODE: message`, as state_detail records a failure. */
export function failureDetail(step: string, err: unknown): string {
  const code = err instanceof WarrenError ? err.code : 'INTERNAL';
  return `${step} failed: ${code}: ${errorMessage(err)}`.slice(0, 2000);
}

/** Where the gateway sends an app's requests, from its row, the sandbox's target and status. */
export function appRoute(
  row: Pick<AppsTable, 'state' | 'state_detail' | 'manifest' | 'name'>,
  target: AppTarget | undefined,
  status: AppStatus | undefined,
): AppRoute {
  const name = row.name;
  switch (row.state) {
    case 'fetching':
    case 'loading':
    case 'creating':
      return {
        kind: 'unavailable',
        status: 'installing',
        message: `${name} is being installed (${row.state}).`,
      };
    case 'failed':
      return { kind: 'unavailable', status: 'failed', message: `${name} failed: ${row.state_detail}` };
    case 'stopped':
      return {
        kind: 'unavailable',
        status: 'stopped',
        message: `${name} is stopped. An admin can start it.`,
      };
    case 'removing':
      return { kind: 'unavailable', status: 'stopped', message: `${name} is being removed.` };
    case 'running':
      if (target) return { kind: 'running', host: target.host, port: target.port, urlPath: urlPathOf(row) };
      if (status?.state === 'starting') {
        return {
          kind: 'unavailable',
          status: 'starting',
          message: `${name} is starting. Try again in a moment.`,
        };
      }
      if (status?.state === 'unhealthy') {
        return { kind: 'unavailable', status: 'unhealthy', message: `${name} is running but unhealthy.` };
      }
      return {
        kind: 'unavailable',
        status: 'unhealthy',
        message: `${name} should be running, but its main service is ${status?.state ?? 'not reachable'}.`,
      };
  }
}
