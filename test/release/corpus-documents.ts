import { stringify } from 'yaml';

/**
 * The documents of the test releases: a valid app.yml and docker-compose.yml,
 * and the compose files that each try one way out of the sandbox (SPEC.md §1),
 * with the code the validator must refuse them with.
 */

export const DIGEST = `sha256:${'ab'.repeat(32)}`;

export interface ManifestFields {
  [key: string]: unknown;
}

export function appYml(overrides: ManifestFields = {}): string {
  const manifest: ManifestFields = {
    id: 'notes',
    name: 'Notes',
    version: '1.2.0',
    maintainer: 'Jane Doe',
    description: 'Plain-text notes.\nSynced across devices.',
    main_service: 'web',
    internal_port: 8080,
    url_path: '/',
    health_check_path: '/healthz',
    ...overrides,
  };
  for (const [key, value] of Object.entries(manifest)) if (value === undefined) delete manifest[key];
  return stringify(manifest);
}

type Service = Record<string, unknown>;

export function composeDocument(
  webPatch: Service = {},
  top: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    services: {
      web: {
        image: 'registry.example.com/notes/web:1.2.0',
        command: ['notes', '--listen', ':8080'],
        environment: { DATABASE_URL: 'postgres://notes@db/notes', WORKERS: 4, DEBUG: false },
        volumes: ['notes-data:/var/lib/notes', 'cache:/cache:rw', '/tmp/anonymous'],
        depends_on: { db: { condition: 'service_healthy' } },
        restart: 'unless-stopped',
        user: '1000:1000',
        expose: [8080],
        tmpfs: ['/run'],
        ...webPatch,
      },
      db: {
        image: `postgres@${DIGEST}`,
        volumes: [{ type: 'volume', source: 'db-data', target: '/var/lib/postgresql/data' }],
        environment: ['POSTGRES_USER=notes', 'POSTGRES_HOST_AUTH_METHOD=trust'],
        healthcheck: { test: ['CMD', 'pg_isready'], interval: '10s', timeout: '5s', retries: 5 },
      },
    },
    volumes: { 'notes-data': null, cache: {}, 'db-data': null },
    ...top,
  };
}

export function composeYml(webPatch: Service = {}, top: Record<string, unknown> = {}): string {
  return stringify(composeDocument(webPatch, top));
}

export interface ComposeEscape {
  name: string;
  expect: string;
  /** Keys merged into the `web` service. */
  web?: Service;
  /** Keys merged into the top level. */
  top?: Record<string, unknown>;
  /** The whole document, when a patch cannot express it. */
  document?: Record<string, unknown>;
  /** The app.yml overrides that go with it. */
  manifest?: ManifestFields;
}

const bindVolume = (spec: unknown): Service => ({ volumes: [spec] });

export const COMPOSE_ESCAPES: ComposeEscape[] = [
  { name: 'privileged', expect: 'COMPOSE_FORBIDDEN_KEY', web: { privileged: true } },
  { name: 'cap-add', expect: 'COMPOSE_FORBIDDEN_KEY', web: { cap_add: ['SYS_ADMIN'] } },
  { name: 'devices', expect: 'COMPOSE_FORBIDDEN_KEY', web: { devices: ['/dev/sda:/dev/sda'] } },
  { name: 'network-mode-host', expect: 'COMPOSE_FORBIDDEN_KEY', web: { network_mode: 'host' } },
  { name: 'network-mode-service', expect: 'COMPOSE_FORBIDDEN_KEY', web: { network_mode: 'service:db' } },
  { name: 'service-networks', expect: 'COMPOSE_FORBIDDEN_KEY', web: { networks: ['default'] } },
  {
    name: 'top-networks',
    expect: 'COMPOSE_FORBIDDEN_KEY',
    top: { networks: { outside: { external: true } } },
  },
  { name: 'pid-host', expect: 'COMPOSE_FORBIDDEN_KEY', web: { pid: 'host' } },
  { name: 'ipc-host', expect: 'COMPOSE_FORBIDDEN_KEY', web: { ipc: 'host' } },
  { name: 'security-opt', expect: 'COMPOSE_FORBIDDEN_KEY', web: { security_opt: ['seccomp:unconfined'] } },
  { name: 'sysctls', expect: 'COMPOSE_FORBIDDEN_KEY', web: { sysctls: { 'net.ipv4.ip_forward': 1 } } },
  { name: 'build', expect: 'COMPOSE_FORBIDDEN_KEY', web: { build: '.' } },
  { name: 'env-file', expect: 'COMPOSE_FORBIDDEN_KEY', web: { env_file: ['.env'] } },
  {
    name: 'extra-hosts',
    expect: 'COMPOSE_FORBIDDEN_KEY',
    web: { extra_hosts: ['host.docker.internal:host-gateway'] },
  },
  { name: 'volumes-from', expect: 'COMPOSE_FORBIDDEN_KEY', web: { volumes_from: ['db'] } },
  { name: 'unknown-key', expect: 'COMPOSE_FORBIDDEN_KEY', web: { mystery: 1 } },
  { name: 'unknown-top-key', expect: 'COMPOSE_FORBIDDEN_KEY', top: { 'x-extra': { a: 1 } } },
  {
    name: 'external-volume',
    expect: 'COMPOSE_FORBIDDEN_KEY',
    top: { volumes: { other: { external: true } } },
  },
  { name: 'bind-relative', expect: 'COMPOSE_BIND_MOUNT', web: bindVolume('./data:/data') },
  { name: 'bind-absolute', expect: 'COMPOSE_BIND_MOUNT', web: bindVolume('/etc:/host-etc:ro') },
  { name: 'bind-home', expect: 'COMPOSE_BIND_MOUNT', web: bindVolume('~/secrets:/secrets') },
  { name: 'bind-windows', expect: 'COMPOSE_BIND_MOUNT', web: bindVolume('C:\\Users:/users') },
  { name: 'bind-interpolated', expect: 'COMPOSE_BIND_MOUNT', web: bindVolume('$' + '{HOME}:/home') },
  {
    name: 'bind-long',
    expect: 'COMPOSE_BIND_MOUNT',
    web: bindVolume({ type: 'bind', source: '/', target: '/host' }),
  },
  {
    name: 'volume-source-host-path',
    expect: 'COMPOSE_BIND_MOUNT',
    web: bindVolume({ type: 'volume', source: '/etc', target: '/host-etc' }),
  },
  {
    name: 'volume-driver-opts-bind',
    expect: 'COMPOSE_BIND_MOUNT',
    top: {
      volumes: {
        'notes-data': { driver: 'local', driver_opts: { type: 'none', o: 'bind', device: '/etc' } },
      },
    },
  },
  {
    name: 'docker-socket-short',
    expect: 'COMPOSE_DOCKER_SOCKET',
    web: bindVolume('/var/run/docker.sock:/var/run/docker.sock'),
  },
  {
    name: 'docker-socket-long',
    expect: 'COMPOSE_DOCKER_SOCKET',
    web: bindVolume({ type: 'bind', source: '/run/docker.sock', target: '/docker.sock' }),
  },
  {
    name: 'docker-socket-driver-opts',
    expect: 'COMPOSE_DOCKER_SOCKET',
    top: { volumes: { 'notes-data': { driver_opts: { o: 'bind', device: '/var/run/docker.sock' } } } },
  },
  { name: 'ports-short', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['80'] } },
  { name: 'ports-number', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: [80] } },
  { name: 'ports-host-container', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['8080:80'] } },
  { name: 'ports-loopback', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['127.0.0.1:80:80'] } },
  { name: 'ports-range', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['8000-8010:8000-8010'] } },
  { name: 'ports-udp', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['53:53/udp'] } },
  { name: 'ports-ipv6', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: ['[::1]:80:80'] } },
  {
    name: 'ports-long',
    expect: 'COMPOSE_PUBLISHED_PORT',
    web: { ports: [{ target: 80, published: '8080', host_ip: '0.0.0.0', protocol: 'tcp', mode: 'host' }] },
  },
  { name: 'ports-empty', expect: 'COMPOSE_PUBLISHED_PORT', web: { ports: [] } },
  { name: 'image-untagged', expect: 'COMPOSE_IMAGE_UNPINNED', web: { image: 'nginx' } },
  {
    name: 'image-latest',
    expect: 'COMPOSE_IMAGE_UNPINNED',
    web: { image: 'docker.io/library/nginx:latest' },
  },
  {
    name: 'image-registry-port-untagged',
    expect: 'COMPOSE_IMAGE_UNPINNED',
    web: { image: 'localhost:5000/app' },
  },
  { name: 'image-interpolated', expect: 'COMPOSE_INVALID', web: { image: '$' + '{IMAGE}' } },
  {
    name: 'main-service-missing',
    expect: 'COMPOSE_MAIN_SERVICE_MISSING',
    manifest: { main_service: 'frontend' },
  },
  {
    name: 'too-many-services',
    expect: 'COMPOSE_TOO_MANY_SERVICES',
    document: {
      services: Object.fromEntries(
        Array.from({ length: 21 }, (_, i) => [i === 0 ? 'web' : `worker-${i}`, { image: `worker:${i}.0` }]),
      ),
    },
  },
];
