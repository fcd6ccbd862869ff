import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { DockerEngine } from '../docker/engine.js';
import type { ContainerInfo, ContainerSummary, Labels } from '../docker/types.js';
import type { DependsCondition } from './order.js';
import {
  instanceTag,
  networkName,
  type PlanOptions,
  planSandbox,
  SANDBOX_LABELS,
  type SandboxPlan,
} from './plan.js';
import { conflict, mergeLogs, parseDependsOn } from './sandbox-util.js';
import { appStatus, containerState } from './status.js';
import {
  type AppDeployment,
  type AppSandbox,
  type AppStatus,
  type AppTarget,
  type LogOptions,
  type ManagedObjects,
  type SandboxCaps,
  WARREN_LABELS,
} from './types.js';

/*
 * The sandbox on Docker Engine: plan.ts says what an app's network, volumes
 * and containers look like; this class makes the engine match, one app at a
 * time. It finds its objects by their labels (instance + app) and never
 * touches an object without this instance's label: a name taken by anything
 * else is reported as a conflict, and the object is left as it is.
 */

export interface DockerSandboxOptions {
  engine: DockerEngine;
  caps: SandboxCaps;
  instanceId: string;
  log: Logger;
  plan?: PlanOptions;
  /** How long start() waits for a depends_on condition (healthy, completed). Default 120 s. */
  dependencyTimeoutMs?: number;
}

const MAX_TAIL = 10_000;
const POLL_MS = 500;

export class DockerSandbox implements AppSandbox {
  private readonly engine: DockerEngine;
  private readonly caps: SandboxCaps;
  private readonly instanceId: string;
  private readonly tag: string;
  private readonly log: Logger;
  private readonly planOptions: PlanOptions;
  private readonly dependencyTimeoutMs: number;
  /** One operation per app at a time; an entry lives while operations are queued. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(options: DockerSandboxOptions) {
    this.engine = options.engine;
    this.caps = options.caps;
    this.instanceId = options.instanceId;
    this.tag = instanceTag(options.instanceId);
    this.log = options.log;
    this.planOptions = options.plan ?? {};
    this.dependencyTimeoutMs = options.dependencyTimeoutMs ?? 120_000;
  }

  /** The plan create() would carry out (pure; for the console's permissions view and tests). */
  plan(deployment: AppDeployment): SandboxPlan {
    return planSandbox(deployment, this.caps, this.instanceId, this.planOptions);
  }

  create(deployment: AppDeployment): Promise<void> {
    const plan = this.plan(deployment);
    return this.exclusive(plan.appId, () => this.converge(plan));
  }

  start(appId: string): Promise<void> {
    return this.exclusive(appId, () => this.startAll(appId));
  }

  stop(appId: string): Promise<void> {
    return this.exclusive(appId, () => this.stopAll(appId));
  }

  restart(appId: string): Promise<void> {
    return this.exclusive(appId, async () => {
      await this.stopAll(appId);
      await this.startAll(appId);
    });
  }

  remove(appId: string, options: { keepData: boolean }): Promise<void> {
    return this.exclusive(appId, async () => {
      const filters = { label: this.appLabels(appId) };
      // Stopped in reverse dependency order first (the app before its database), then removed.
      await this.stopAll(appId).catch((err: unknown) => {
        this.log.warn(
          { app: appId, err: errorMessage(err) },
          'stopping before removal failed; removing anyway',
        );
      });
      await this.removeContainers(await this.engine.containerList({ all: true, filters }), 'app removed');
      for (const network of await this.engine.networkList(filters))
        await this.engine.networkRemove(network.Id);
      if (!options.keepData) {
        for (const volume of await this.engine.volumeList(filters))
          await this.engine.volumeRemove(volume.Name);
      }
      this.log.info({ app: appId, keepData: options.keepData }, 'app removed');
    });
  }

  async status(appId: string): Promise<AppStatus> {
    const { services, byService } = await this.containersOf(appId, false);
    const infos = new Map<string, ContainerInfo>();
    for (const [service, container] of byService) {
      const info = await this.engine.containerInspect(container.Id);
      if (info) infos.set(service, info);
    }
    return appStatus(appId, services, infos);
  }

  async target(appId: string): Promise<AppTarget | undefined> {
    const [main] = await this.engine.containerList({
      all: true,
      filters: { label: [...this.appLabels(appId), `${WARREN_LABELS.main}=1`] },
    });
    if (!main) return undefined;
    const info = await this.engine.containerInspect(main.Id);
    const port = Number(info?.Config.Labels?.[SANDBOX_LABELS.port]);
    const address = info?.NetworkSettings.Networks[networkName(this.tag, appId)]?.IPAddress;
    if (!info?.State.Running || info.State.Restarting || !address || !(port > 0)) return undefined;
    return { host: address, port };
  }

  async logs(appId: string, options: LogOptions): Promise<Readable> {
    const { services, byService } = await this.containersOf(appId, false);
    const chosen =
      options.service === undefined ? services.filter((s) => byService.has(s)) : [options.service];
    if (options.service !== undefined && !byService.has(options.service)) {
      throw new WarrenError('SANDBOX_SERVICE_UNKNOWN', `app ${appId} has no service ${options.service}`, 404);
    }
    if (byService.size === 0) {
      throw new WarrenError('SANDBOX_APP_MISSING', `app ${appId} has no containers in Docker`, 404);
    }
    const tail = Math.max(0, Math.min(MAX_TAIL, Math.floor(options.tail)));
    const streams: Readable[] = [];
    try {
      for (const service of chosen) {
        streams.push(
          await this.engine.containerLogs(byService.get(service)!.Id, { tail, follow: options.follow }),
        );
      }
    } catch (err) {
      for (const stream of streams) stream.destroy();
      throw err;
    }
    if (options.service !== undefined) return streams[0]!;
    return mergeLogs(
      streams.map((stream, i) => ({ prefix: `${chosen[i]} | `, stream })),
      options.follow,
    );
  }

  async listManaged(): Promise<ManagedObjects> {
    const filters = { label: [`${WARREN_LABELS.instance}=${this.instanceId}`] };
    const managed: ManagedObjects = { containers: new Map(), networks: new Map(), volumes: new Map() };
    const add = <T>(map: Map<string, T[]>, labels: Labels | null, item: T) => {
      const app = labels?.[WARREN_LABELS.app] ?? '';
      map.set(app, [...(map.get(app) ?? []), item]);
    };
    for (const c of await this.engine.containerList({ all: true, filters })) {
      add(managed.containers, c.Labels, {
        id: c.Id,
        service: c.Labels?.[WARREN_LABELS.service] ?? '',
        version: c.Labels?.[WARREN_LABELS.version] ?? '',
        state: containerState(c.State),
      });
    }
    for (const n of await this.engine.networkList(filters)) add(managed.networks, n.Labels, n.Name);
    for (const v of await this.engine.volumeList(filters)) add(managed.volumes, v.Labels, v.Name);
    return managed;
  }

  // --- create ---------------------------------------------------------------

  private async converge(plan: SandboxPlan): Promise<void> {
    const { appId } = plan;
    await this.refuseConflicts(plan);
    const filters = { label: this.appLabels(appId) };
    let existing = await this.engine.containerList({ all: true, filters });

    let network = await this.engine.networkInspect(plan.network.Name);
    if (network && (network.Driver !== 'bridge' || network.Internal !== plan.network.Internal)) {
      this.log.warn(
        { app: appId, network: network.Name },
        'replacing a network that does not match the plan',
      );
      await this.removeContainers(existing, 'its network is replaced');
      existing = [];
      await this.engine.networkRemove(network.Id);
      network = undefined;
    }
    if (!network) {
      // Containers made for a network that is gone cannot start: they go too.
      await this.removeContainers(existing, 'its network is gone');
      existing = [];
      await this.engine.networkCreate(plan.network);
    }

    for (const volume of plan.volumes) {
      if (!(await this.engine.volumeInspect(volume.Name))) await this.engine.volumeCreate(volume);
    }

    const wanted = new Map(plan.containers.map((c) => [c.name, c]));
    const kept = new Set<string>();
    for (const container of existing) {
      const name = container.Names[0]?.replace(/^\//, '') ?? '';
      const planned = wanted.get(name);
      const same =
        planned &&
        container.Labels?.[SANDBOX_LABELS.config] === planned.body.Labels[SANDBOX_LABELS.config] &&
        container.Labels?.[WARREN_LABELS.version] === plan.version;
      if (same && !kept.has(name)) kept.add(name);
      else await this.removeContainers([container], 'it does not match the plan (version or settings)');
    }
    for (const container of plan.containers) {
      if (kept.has(container.name)) continue;
      try {
        await this.engine.containerCreate(container.name, container.body);
      } catch (err) {
        if ((err as { engineStatus?: number }).engineStatus === 409) {
          throw conflict(`container ${container.name}`, errorMessage(err));
        }
        throw err;
      }
    }
    this.log.info(
      { app: appId, version: plan.version, kept: kept.size, created: plan.containers.length - kept.size },
      'app sandbox created',
    );
  }

  /** Every name the plan uses that is taken by an object without this instance's and app's labels. */
  private async refuseConflicts(plan: SandboxPlan): Promise<void> {
    const foreign: string[] = [];
    const check = (kind: string, name: string, labels: Labels | null | undefined) => {
      if (
        labels?.[WARREN_LABELS.instance] !== this.instanceId ||
        labels?.[WARREN_LABELS.app] !== plan.appId
      ) {
        foreign.push(`${kind} ${name}`);
      }
    };
    const network = await this.engine.networkInspect(plan.network.Name);
    if (network) check('network', plan.network.Name, network.Labels);
    for (const volume of plan.volumes) {
      const found = await this.engine.volumeInspect(volume.Name);
      if (found) check('volume', volume.Name, found.Labels);
    }
    for (const container of plan.containers) {
      const found = await this.engine.containerInspect(container.name);
      if (found) check('container', container.name, found.Config.Labels);
    }
    if (foreign.length > 0) throw conflict(foreign.join(', '));
  }

  /** Stops each container first (its stop signal and grace period: a database shuts down cleanly), then removes it. */
  private async removeContainers(containers: ContainerSummary[], why: string): Promise<void> {
    for (const container of containers) {
      this.log.info({ container: container.Names[0], why }, 'removing a container');
      if (container.State === 'running' || container.State === 'restarting') {
        await this.engine.containerStop(container.Id).catch((err: unknown) => {
          this.log.warn(
            { container: container.Names[0], err: errorMessage(err) },
            'stop failed; removing anyway',
          );
        });
      }
      await this.engine.containerRemove(container.Id, { force: true });
    }
  }

  // --- helpers ----------------------------------------------------------------

  private appLabels(appId: string): string[] {
    return [`${WARREN_LABELS.instance}=${this.instanceId}`, `${WARREN_LABELS.app}=${appId}`];
  }

  /** The app's containers by service, and its services in start order (from the labels). */
  private async containersOf(appId: string, complete: boolean) {
    const containers = await this.engine.containerList({
      all: true,
      filters: { label: this.appLabels(appId) },
    });
    const byService = new Map<string, ContainerSummary>();
    for (const c of containers) byService.set(c.Labels?.[WARREN_LABELS.service] ?? '', c);
    const listed = containers[0]?.Labels?.[SANDBOX_LABELS.services];
    const services = listed ? listed.split(',') : [...byService.keys()];
    if (complete) {
      if (containers.length === 0) {
        throw new WarrenError(
          'SANDBOX_APP_MISSING',
          `app ${appId} has no containers in Docker; install it again`,
          404,
        );
      }
      const missing = services.filter((s) => !byService.has(s));
      if (missing.length > 0) {
        throw new WarrenError(
          'SANDBOX_INCOMPLETE',
          `app ${appId} has no container for ${missing.join(', ')}; install it again to repair it`,
          409,
        );
      }
    }
    return { services, byService };
  }

  /** Starts every container in dependency order, waiting for each depends_on condition first. */
  private async startAll(appId: string): Promise<void> {
    const { services, byService } = await this.containersOf(appId, true);
    for (const service of services) {
      const container = byService.get(service)!;
      for (const dep of parseDependsOn(container.Labels?.[SANDBOX_LABELS.dependsOn])) {
        const other = byService.get(dep.service);
        if (other) await this.waitFor(appId, other, dep.service, dep.condition);
      }
      await this.engine.containerStart(container.Id);
    }
    this.log.info({ app: appId }, 'app started');
  }

  private async stopAll(appId: string): Promise<void> {
    const { services, byService } = await this.containersOf(appId, false);
    for (const service of [...services].reverse()) {
      const container = byService.get(service);
      if (container) await this.engine.containerStop(container.Id);
    }
    this.log.info({ app: appId }, 'app stopped');
  }

  private async waitFor(
    appId: string,
    container: ContainerSummary,
    service: string,
    condition: DependsCondition,
  ) {
    const deadline = Date.now() + this.dependencyTimeoutMs;
    let last = 'unknown';
    while (Date.now() < deadline) {
      const info = await this.engine.containerInspect(container.Id);
      const state = info?.State;
      last = `${state?.Status ?? 'missing'}${state?.Health ? `, ${state.Health.Status}` : ''}`;
      if (condition === 'service_completed_successfully') {
        if (state?.Status === 'exited') {
          if (state.ExitCode === 0) return;
          throw new WarrenError(
            'SANDBOX_DEPENDENCY_FAILED',
            `app ${appId}: service ${service} exited with code ${state.ExitCode}`,
            502,
          );
        }
      } else if (state?.Running && !state.Restarting) {
        const health = state.Health?.Status ?? 'none';
        if (condition === 'service_started' || health === 'healthy' || health === 'none') return;
      }
      await sleep(POLL_MS);
    }
    throw new WarrenError(
      'SANDBOX_DEPENDENCY_TIMEOUT',
      `app ${appId}: service ${service} did not reach ${condition} in ${Math.round(this.dependencyTimeoutMs / 1000)} s (${last})`,
      504,
    );
  }

  private exclusive<T>(appId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(appId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    const settled = run.catch(() => undefined);
    this.locks.set(appId, settled);
    void settled.then(() => {
      if (this.locks.get(appId) === settled) this.locks.delete(appId);
    });
    return run;
  }
}
