import { type Static, Type } from '@sinclair/typebox';
import { parseHostPort } from '../core/net.js';
import { parseDuration } from '../core/units.js';

const Duration = (def: string, description: string) => Type.String({ default: def, description });
const Count = (def: number, description: string, minimum = 1) =>
  Type.Integer({ default: def, minimum, description });

/**
 * The scheduler's configuration (YAML < `WARREN_*` env < flags, see core/config.ts).
 * Durations are strings ('10s', '5m') parsed once by {@link resolveSchedulerSettings}.
 * `config.example.yaml` beside this file documents every key.
 */
export const SchedulerConfigSchema = Type.Object({
  listen: Type.String({ default: '127.0.0.1:8002', description: 'host:port of the mTLS RPC server' }),
  opsListen: Type.String({ default: '127.0.0.1:0', description: 'host:port of /metrics, /healthz' }),
  tlsDir: Type.String({ default: 'warren-data/scheduler/tls', description: 'ca.crt, tls.crt, tls.key' }),
  advertiseIp: Type.String({
    default: '',
    description:
      "IP peers reach this scheduler at (told to the manager); '' = the listen host, or the address the manager sees",
  }),
  manager: Type.Object(
    {
      address: Type.String({
        default: '',
        description: "manager RPC host:port: registration, trust lists, cluster config; '' = no manager",
      }),
      cluster: Type.String({
        default: '',
        description: "cluster name to join; '' = by the manager's locality rules",
      }),
    },
    { default: {} },
  ),
  logLevel: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  limits: Type.Object(
    {
      maxTasks: Count(10_000, 'tasks held at once; new tasks beyond are refused'),
      maxPeersPerTask: Count(5_000, 'peers per task; registrations beyond are refused'),
      maxStreamsPerConnection: Count(1_000, 'concurrent HTTP/2 streams on one connection'),
      badDigestHostLimit: Count(3, 'bad-digest reports after which a host is never a parent'),
    },
    { default: {} },
  ),
  scheduling: Type.Object(
    {
      candidateParentLimit: Count(4, 'parents sent to a peer at once'),
      filterParentLimit: Count(15, 'eligible candidates sampled and scored per decision'),
      retryBackToSourceLimit: Count(3, 'rounds without any candidate before back_to_source'),
      retryInterval: Duration('500ms', 'pause between scheduling rounds for a peer without parents'),
    },
    { default: {} },
  ),
  timeouts: Type.Object(
    {
      seedTimeout: Duration('10s', 'a source that has not sent task_info by then is replaced'),
      peerIdleTimeout: Duration('5m', 'a downloading peer silent this long is evicted'),
      hostPingInterval: Duration('15s', 'keepalive on AnnounceHost streams'),
    },
    { default: {} },
  ),
  rateLimit: Type.Object(
    {
      messagesPerSecond: Count(500, 'AnnouncePeer messages and registrations per host per second'),
      burst: Count(1_000, 'messages a host may send at once above the steady rate'),
    },
    { default: {} },
  ),
});

/** A validated scheduler configuration, as loadConfig returns it. */
export type SchedulerConfig = Static<typeof SchedulerConfigSchema>;

/** The configuration with addresses split and durations in milliseconds. */
export interface SchedulerSettings {
  listen: { host: string; port: number };
  opsListen: { host: string; port: number };
  maxTasks: number;
  maxPeersPerTask: number;
  maxStreamsPerConnection: number;
  badDigestHostLimit: number;
  candidateParentLimit: number;
  filterParentLimit: number;
  retryBackToSourceLimit: number;
  retryIntervalMs: number;
  seedTimeoutMs: number;
  peerIdleTimeoutMs: number;
  hostPingIntervalMs: number;
  messagesPerSecond: number;
  burst: number;
}

/** Parses the string-typed parts of a validated config; a bad value names its key. */
export function resolveSchedulerSettings(config: SchedulerConfig): SchedulerSettings {
  const { limits, scheduling, timeouts, rateLimit } = config;
  return {
    listen: parseHostPort(config.listen, 'listen'),
    opsListen: parseHostPort(config.opsListen, 'opsListen'),
    ...limits,
    candidateParentLimit: scheduling.candidateParentLimit,
    filterParentLimit: Math.max(scheduling.filterParentLimit, scheduling.candidateParentLimit),
    retryBackToSourceLimit: scheduling.retryBackToSourceLimit,
    retryIntervalMs: parseDuration(scheduling.retryInterval, 'scheduling.retryInterval'),
    seedTimeoutMs: parseDuration(timeouts.seedTimeout, 'timeouts.seedTimeout'),
    peerIdleTimeoutMs: parseDuration(timeouts.peerIdleTimeout, 'timeouts.peerIdleTimeout'),
    hostPingIntervalMs: parseDuration(timeouts.hostPingInterval, 'timeouts.hostPingInterval'),
    messagesPerSecond: rateLimit.messagesPerSecond,
    burst: rateLimit.burst,
  };
}
