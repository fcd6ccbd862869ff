import {
  COMPOSE_YML_WHERE,
  checkContainerPath,
  checkDuration,
  checkEnvironment,
  checkImage,
  checkServiceVolume,
  checkStringOrList,
  checkTopLevelVolume,
  composeError,
  isMapping,
  show,
} from './compose-fields.js';
import { SERVICE_NAME_PATTERN } from './manifest.js';
import { ReleaseError } from './types.js';

/**
 * `docker-compose.yml` against an allowlist. Warren runs every app in its own
 * sandbox (SPEC.md §1): its own network, named volumes only, no host ports,
 * no extra privileges; Warren sets the limits and the capabilities itself.
 * So the compose file may only describe what to run, never how it reaches
 * the host. Decisions:
 * - top level: `services` (required), `volumes` (plain named volumes), and
 *   the obsolete `version` (ignored). `networks` is refused: Warren makes
 *   the app's one network. `name`, `configs`, `secrets`, `x-*` are refused.
 * - per service: only the keys in SERVICE_KEYS; the sandbox escapes get a
 *   message saying so, `ports` in any form gets COMPOSE_PUBLISHED_PORT (the
 *   gateway reaches the main service; apps never publish ports), and any
 *   mention of the Docker (or containerd/podman) socket anywhere is
 *   COMPOSE_DOCKER_SOCKET.
 * - `labels` is refused: Warren owns its containers' labels.
 * Pure: no I/O.
 */

export const MAX_SERVICES = 20;

const SERVICE_NAME = new RegExp(SERVICE_NAME_PATTERN);
const TOP_LEVEL_KEYS = new Set(['services', 'volumes', 'version']);
const RESTART_POLICIES = new Set(['no', 'always', 'on-failure', 'unless-stopped']);
const DEPENDS_CONDITIONS = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);
const HEALTHCHECK_KEYS = new Set([
  'test',
  'interval',
  'timeout',
  'retries',
  'start_period',
  'start_interval',
  'disable',
]);

/** Keys that would let a container out of its sandbox, with why. */
const SANDBOX_ESCAPES: Record<string, string> = {
  privileged: 'gives the container full access to the host',
  cap_add: 'adds kernel capabilities (Warren sets them)',
  cap_drop: 'Warren sets the capabilities itself',
  devices: 'exposes host devices',
  device_cgroup_rules: 'opens host devices',
  network_mode: "leaves the app's own network (host, another container, none)",
  networks: "Warren makes the app's one network",
  pid: "shares a PID namespace (host's or another container's)",
  ipc: 'shares an IPC namespace',
  uts: "shares the host's UTS namespace",
  userns_mode: "leaves the container's user namespace",
  cgroup: "shares the host's cgroup namespace",
  cgroup_parent: 'places the container in another cgroup',
  security_opt: 'changes seccomp, AppArmor or no-new-privileges',
  sysctls: 'changes kernel parameters',
  build: 'builds from a host context; releases run pinned images',
  env_file: 'reads files from the host',
  extra_hosts: 'rewrites name resolution',
  volumes_from: "mounts another container's volumes",
  links: 'reaches other containers',
  external_links: "reaches containers outside the app's network",
  runtime: 'picks another container runtime',
  gpus: 'exposes host GPUs',
  isolation: 'changes the isolation technology',
  container_name: 'Warren names containers',
  labels: "Warren owns its containers' labels",
  ulimits: 'Warren sets the limits',
  oom_kill_disable: 'Warren sets the limits',
  oom_score_adj: 'Warren sets the limits',
  mem_limit: 'Warren sets the limits',
  cpus: 'Warren sets the limits',
  pids_limit: 'Warren sets the limits',
  shm_size: 'Warren sets the limits',
  dns: 'Warren sets name resolution',
  dns_search: 'Warren sets name resolution',
  dns_opt: 'Warren sets name resolution',
  mac_address: 'Warren sets the network',
  platform: 'Warren runs the host platform',
  configs: 'reads files from the host',
  secrets: 'reads files from the host',
  logging: 'Warren collects the logs',
  extends: 'pulls in another compose file',
  profiles: 'every service of a release runs',
};

type ServiceCheck = (value: unknown, path: string, context: ComposeContext) => void;

interface ComposeContext {
  services: ReadonlySet<string>;
  volumes: ReadonlySet<string>;
  self: string;
}

const SERVICE_KEYS: Record<string, ServiceCheck> = {
  image: (v, p) => checkImage(v, p),
  command: (v, p) => checkStringOrList(v, p),
  entrypoint: (v, p) => checkStringOrList(v, p),
  environment: (v, p) => checkEnvironment(v, p),
  volumes: (v, p, c) => {
    if (!Array.isArray(v)) throw composeError('COMPOSE_INVALID', p, 'must be a list');
    for (const [i, item] of v.entries()) checkServiceVolume(item, `${p}[${i}]`, c.volumes);
  },
  tmpfs: (v, p) => {
    for (const [i, item] of (Array.isArray(v) ? v : [v]).entries()) {
      const where = Array.isArray(v) ? `${p}[${i}]` : p;
      if (typeof item !== 'string') throw composeError('COMPOSE_INVALID', where, 'must be a path');
      const [target, options] = item.split(/:(.*)/s, 2);
      checkContainerPath(target, where);
      if (options !== undefined && !/^[a-z0-9=,]*$/.test(options)) {
        throw composeError('COMPOSE_INVALID', where, `tmpfs options ${show(options)}`);
      }
    }
  },
  depends_on: checkDependsOn,
  healthcheck: checkHealthcheck,
  restart: (v, p) => {
    if (typeof v !== 'string' || !RESTART_POLICIES.has(v.replace(/:[0-9]+$/, ''))) {
      throw composeError('COMPOSE_INVALID', p, `${show(v)}; allowed: ${[...RESTART_POLICIES].join(', ')}`);
    }
  },
  working_dir: (v, p) => checkContainerPath(v, p),
  user: (v, p) => {
    const ok =
      (typeof v === 'number' && Number.isInteger(v) && v >= 0) ||
      (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}(:[A-Za-z0-9_.-]{1,64})?$/.test(v));
    if (!ok) throw composeError('COMPOSE_INVALID', p, `${show(v)} is not a user[:group]`);
  },
  expose: (v, p) => {
    if (!Array.isArray(v)) throw composeError('COMPOSE_INVALID', p, 'must be a list');
    v.forEach((item, i) => {
      if (!/^[0-9]{1,5}(-[0-9]{1,5})?(\/(tcp|udp))?$/.test(String(item))) {
        throw composeError('COMPOSE_INVALID', `${p}[${i}]`, `${show(item)} is not a container port`);
      }
    });
  },
  stop_signal: (v, p) => {
    if (typeof v !== 'string' || !/^SIG[A-Z0-9+]{1,16}$/.test(v)) {
      throw composeError('COMPOSE_INVALID', p, `${show(v)} is not a signal name`);
    }
  },
  stop_grace_period: (v, p) => checkDuration(v, p),
  read_only: checkBoolean,
  init: checkBoolean,
};

function checkBoolean(value: unknown, path: string): void {
  if (typeof value !== 'boolean') throw composeError('COMPOSE_INVALID', path, 'must be true or false');
}

function checkDependsOn(value: unknown, path: string, context: ComposeContext): void {
  const checkName = (name: unknown, where: string) => {
    if (typeof name !== 'string' || !context.services.has(name) || name === context.self) {
      throw composeError('COMPOSE_INVALID', where, `${show(name)} is not another service of this file`);
    }
  };
  if (Array.isArray(value)) {
    for (const [i, name] of value.entries()) checkName(name, `${path}[${i}]`);
    return;
  }
  if (!isMapping(value)) throw composeError('COMPOSE_INVALID', path, 'must be a list or a mapping');
  for (const [name, condition] of Object.entries(value)) {
    const where = `${path}.${name}`;
    checkName(name, where);
    if (!isMapping(condition)) throw composeError('COMPOSE_INVALID', where, 'must be a mapping');
    for (const [key, v] of Object.entries(condition)) {
      const ok =
        (key === 'condition' && typeof v === 'string' && DEPENDS_CONDITIONS.has(v)) ||
        ((key === 'restart' || key === 'required') && typeof v === 'boolean');
      if (!ok) throw composeError('COMPOSE_INVALID', `${where}.${key}`, `${show(v)} is not allowed here`);
    }
  }
}

function checkHealthcheck(value: unknown, path: string): void {
  if (!isMapping(value)) throw composeError('COMPOSE_INVALID', path, 'must be a mapping');
  for (const [key, v] of Object.entries(value)) {
    const where = `${path}.${key}`;
    if (!HEALTHCHECK_KEYS.has(key))
      throw composeError('COMPOSE_FORBIDDEN_KEY', where, 'not in the allowlist');
    if (key === 'test') checkStringOrList(v, where);
    else if (key === 'retries') {
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 1000) {
        throw composeError('COMPOSE_INVALID', where, 'must be a whole number');
      }
    } else if (key === 'disable') checkBoolean(v, where);
    else checkDuration(v, where);
  }
}

/**
 * The compose document, checked. `mainService` (from app.yml) must be one of
 * its services. Returns the same document, typed as a mapping.
 */
export function checkCompose(document: unknown, mainService: string): Record<string, unknown> {
  if (!isMapping(document)) {
    throw new ReleaseError('COMPOSE_INVALID', COMPOSE_YML_WHERE, 'must be a mapping');
  }
  findDockerSocket(document, '');
  for (const key of Object.keys(document)) {
    if (TOP_LEVEL_KEYS.has(key)) continue;
    const why = key === 'networks' ? "Warren makes the app's one network" : 'not in the allowlist';
    throw composeError('COMPOSE_FORBIDDEN_KEY', key, why);
  }
  if (document['version'] !== undefined && typeof document['version'] !== 'string') {
    throw composeError('COMPOSE_INVALID', 'version', 'must be a string (it is ignored)');
  }
  const volumes = document['volumes'] ?? {};
  if (!isMapping(volumes)) throw composeError('COMPOSE_INVALID', 'volumes', 'must be a mapping');
  for (const [name, value] of Object.entries(volumes)) checkTopLevelVolume(name, value, `volumes.${name}`);

  const services = document['services'];
  if (!isMapping(services) || Object.keys(services).length === 0) {
    throw composeError('COMPOSE_INVALID', 'services', 'must be a mapping with at least one service');
  }
  const names = Object.keys(services);
  if (names.length > MAX_SERVICES) {
    throw composeError(
      'COMPOSE_TOO_MANY_SERVICES',
      'services',
      `${names.length}; the limit is ${MAX_SERVICES}`,
    );
  }
  const context = { services: new Set(names), volumes: new Set(Object.keys(volumes)) };
  for (const name of names) checkService(name, services[name], { ...context, self: name });
  if (!context.services.has(mainService)) {
    throw composeError(
      'COMPOSE_MAIN_SERVICE_MISSING',
      'services',
      `has no service ${show(mainService)} (main_service in app.yml)`,
    );
  }
  return document;
}

function checkService(name: string, service: unknown, context: ComposeContext): void {
  const path = `services.${name}`;
  if (!SERVICE_NAME.test(name)) {
    throw composeError('COMPOSE_INVALID', path, `service names match ${SERVICE_NAME_PATTERN}`);
  }
  if (!isMapping(service)) throw composeError('COMPOSE_INVALID', path, 'must be a mapping');
  for (const [key, value] of Object.entries(service)) {
    const where = `${path}.${key}`;
    if (key === 'ports') throw publishedPort(value, where);
    const check = SERVICE_KEYS[key];
    if (!check) {
      const why = SANDBOX_ESCAPES[key];
      throw composeError(
        'COMPOSE_FORBIDDEN_KEY',
        where,
        why ? `escapes the sandbox: ${why}` : 'not in the allowlist',
      );
    }
    check(value, where, context);
  }
  if (service['image'] === undefined) {
    throw composeError('COMPOSE_INVALID', `${path}.image`, 'is required (releases run pinned images)');
  }
}

/** `ports` in any form publishes a host port (short, ranges, host IPs, /udp, long syntax): all refused. */
function publishedPort(value: unknown, path: string): ReleaseError {
  const first = Array.isArray(value) ? value[0] : value;
  const where = Array.isArray(value) && value.length > 0 ? `${path}[0]` : path;
  return composeError(
    'COMPOSE_PUBLISHED_PORT',
    where,
    `${first === undefined ? 'ports' : show(first)} would publish a host port; apps never publish ports ` +
      '(the gateway reaches main_service on internal_port)',
  );
}

const SOCKET =
  /(?:docker|containerd|podman|crio)\.sock|\/var\/run\/docker|\/run\/docker|\/\/\.\/pipe\/docker/i;

/** Any key or string that names a container engine's socket, wherever it is. */
function findDockerSocket(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (SOCKET.test(value)) {
      throw composeError(
        'COMPOSE_DOCKER_SOCKET',
        path || '(document)',
        `${show(value)} names the container engine's socket`,
      );
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) findDockerSocket(item, `${path}[${i}]`);
    return;
  }
  if (isMapping(value)) {
    for (const [key, item] of Object.entries(value)) {
      const where = path ? `${path}.${key}` : key;
      if (SOCKET.test(key)) {
        throw composeError('COMPOSE_DOCKER_SOCKET', where, "names the container engine's socket");
      }
      findDockerSocket(item, where);
    }
  }
}
