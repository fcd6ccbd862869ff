import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why the scheduler refused a caller (label values of warren_scheduler_refusals_total). */
export type RefusalReason =
  | 'identity'
  | 'rate_limit'
  | 'max_tasks'
  | 'max_peers_per_task'
  | 'invalid'
  | 'peer_conflict'
  | 'overflow'
  | 'idle'
  | 'tls';

/** The scheduler's Prometheus metrics. */
export interface SchedulerMetrics {
  decisionSeconds: Histogram;
  refusals: Counter<'reason'>;
  backToSource: Counter<'reason'>;
  seedTriggers: Counter;
  badDigestReports: Counter;
}

/** Registers the metrics; gauges read `counts` at scrape time so they are never stale. */
export function createSchedulerMetrics(
  registry: Registry,
  counts: () => { peers: number; tasks: number; hosts: number },
): SchedulerMetrics {
  new Gauge({
    name: 'warren_scheduler_peers',
    help: 'Peers registered across all tasks',
    registers: [registry],
    collect() {
      this.set(counts().peers);
    },
  });
  new Gauge({
    name: 'warren_scheduler_tasks',
    help: 'Tasks known to the scheduler',
    registers: [registry],
    collect() {
      this.set(counts().tasks);
    },
  });
  new Gauge({
    name: 'warren_scheduler_hosts_connected',
    help: 'Hosts with an open AnnounceHost stream',
    registers: [registry],
    collect() {
      this.set(counts().hosts);
    },
  });
  return {
    decisionSeconds: new Histogram({
      name: 'warren_scheduler_decision_seconds',
      help: 'Time to choose parents for one peer',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'warren_scheduler_refusals_total',
      help: 'Calls or streams refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    backToSource: new Counter({
      name: 'warren_scheduler_back_to_source_total',
      help: 'Peers sent back to source, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    seedTriggers: new Counter({
      name: 'warren_scheduler_seed_triggers_total',
      help: 'Seed peers asked to fetch a task',
      registers: [registry],
    }),
    badDigestReports: new Counter({
      name: 'warren_scheduler_bad_digest_reports_total',
      help: 'Pieces reported as not matching the manifest',
      registers: [registry],
    }),
  };
}
