import { type Static, Type } from '@sinclair/typebox';
import { RegistriesConfigSchema } from '../core/oci/registry-config.js';
import { MirrorConfigSchema } from './mirror/mirror-config.js';

const Size = (d: string, description: string) => Type.String({ default: d, description });
const Duration = (d: string, description: string) => Type.String({ default: d, description });

/** `proxy:`: the peer as an HTTP proxy (src/peer/proxy/); off unless `listen` is set. */
const ProxyConfigSchema = Type.Object(
  {
    listen: Type.String({ default: '', description: "host:port of the HTTP proxy; '' = no proxy" }),
    allow: Type.Array(Type.String(), {
      default: ['127.0.0.0/8', '::1/128'],
      maxItems: 256,
      description: 'client networks (CIDR) that may use the proxy; others get 403',
    }),
    rules: Type.Array(
      Type.Object(
        {
          regex: Type.String({ minLength: 1, maxLength: 1024 }),
          useP2P: Type.Boolean({ default: true }),
        },
        { additionalProperties: false },
      ),
      {
        default: [],
        maxItems: 256,
        description:
          'first match wins: GETs of matching URLs go through P2P (useP2P false: straight through)',
      },
    ),
    intercept: Type.Object(
      {
        hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
          default: [],
          maxItems: 256,
          description: 'HTTPS hosts whose CONNECT tunnels are opened (TLS terminated) to apply the rules',
        }),
        caCertFile: Type.String({ default: '', description: 'CA certificate the clients trust (PEM)' }),
        caKeyFile: Type.String({ default: '', description: 'its private key (PEM, mode 0600)' }),
      },
      { default: {}, additionalProperties: false },
    ),
    connectPorts: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
      default: [443],
      maxItems: 256,
      description: 'ports CONNECT may reach; [] = any',
    }),
    maxConnections: Type.Integer({ default: 256, minimum: 1, maximum: 65536 }),
    idleTimeout: Duration('2m', 'a client or tunnel silent this long is closed'),
  },
  { default: {}, additionalProperties: false },
);

/** `warren peer` configuration; see docs/configuration.md and config.example.yaml. */
export const PeerConfigSchema = Type.Object(
  {
    data: Type.String({
      default: 'warren-data/peer',
      description: 'folder for tasks, socket and certificates',
    }),
    listen: Type.String({ default: '127.0.0.1:4100', description: 'upload server address (host:port)' }),
    advertiseIp: Type.String({
      default: '',
      description: 'IP other peers reach this one at; default the listen host',
    }),
    socket: Type.String({ default: '', description: 'local API socket; default <data>/peer.sock' }),
    socketGroup: Type.String({
      default: '',
      description: 'group (name or gid) allowed on the socket: mode 0660',
    }),
    scheduler: Type.String({
      default: '',
      description: "scheduler host:port; '' = every download from the origin",
    }),
    manager: Type.Object(
      {
        address: Type.String({
          default: '',
          description:
            "manager RPC host:port: schedulers, trust lists and cluster config come from it; '' = none",
        }),
        cluster: Type.String({
          default: '',
          description: "cluster name to join; '' = by the manager's locality rules",
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    tlsDir: Type.String({ default: '', description: 'ca.crt, tls.crt, tls.key; default <data>/tls' }),
    seed: Type.Boolean({ default: false, description: 'seed peer: fetches new tasks from the origin first' }),
    opsListen: Type.String({ default: '127.0.0.1:0', description: '/metrics and /healthz address' }),
    idc: Type.String({ default: '', description: 'data centre label for parent selection' }),
    location: Type.String({ default: '', description: "location label 'country|region|city'" }),
    logLevel: Type.String({ default: 'info' }),
    upload: Type.Object(
      {
        rateLimit: Size('2GiB', 'upload bandwidth per second, all uploads together; 0 = unlimited'),
        concurrency: Type.Integer({ default: 64, minimum: 1, maximum: 4096 }),
      },
      { default: {}, additionalProperties: false },
    ),
    download: Type.Object(
      {
        memoryBudget: Size('32MiB', 'piece buffers in flight per download'),
        perParentLimit: Type.Integer({ default: 4, minimum: 1, maximum: 64 }),
        stallTimeout: Duration('5s', 'no progress this long: ask for other parents'),
        maxReschedules: Type.Integer({
          default: 12,
          minimum: 0,
          maximum: 1000,
          description: 'stalls without progress before going to the origin without the scheduler',
        }),
        maxActive: Type.Integer({ default: 64, minimum: 1, maximum: 4096, description: 'downloads at once' }),
      },
      { default: {}, additionalProperties: false },
    ),
    source: Type.Object(
      {
        rateLimit: Size('1GiB', 'back-to-source bandwidth per second; 0 = unlimited'),
        connectTimeout: Duration('10s', 'origin connect timeout'),
        bodyTimeout: Duration('30s', 'longest silence from the origin'),
        caFile: Type.String({ default: '', description: 'extra CA bundle for HTTPS origins' }),
      },
      { default: {}, additionalProperties: false },
    ),
    proxy: ProxyConfigSchema,
    registries: RegistriesConfigSchema,
    mirror: MirrorConfigSchema,
    gc: Type.Object(
      {
        interval: Duration('15m', 'how often GC runs'),
        taskTtl: Duration('720h', 'tasks unused this long are removed'),
        highWatermark: Type.Number({ default: 0.8, minimum: 0, maximum: 1 }),
        lowWatermark: Type.Number({ default: 0.6, minimum: 0, maximum: 1 }),
        diskQuota: Size('0', "bytes the store may use; '0' = the filesystem's size"),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type PeerConfig = Static<typeof PeerConfigSchema>;
