import type { ContainerInfo } from '../docker/types.js';
import type { AppStatus, ContainerState, ServiceStatus } from './types.js';

/*
 * An app's status from its containers' inspect answers. Pure.
 * - 'running': every service that should run is running, and healthy where it has a check;
 * - 'starting': running, some health checks still starting;
 * - 'unhealthy': a check failed, or a container is restarting (crash loop);
 * - 'partial': some services run, others are stopped or have no container;
 * - 'stopped': nothing runs; 'missing': no container at all.
 * A service that exited 0 and is not meant to be restarted (restart: no or
 * on-failure, e.g. a migration job) counts as done, not as stopped.
 */

const STATES = new Set<ContainerState>(['created', 'running', 'paused', 'restarting', 'exited', 'dead']);

/** Docker's state word as a ContainerState ('removing' and unknown words count as dead). */
export function containerState(status: string): ContainerState {
  return STATES.has(status as ContainerState) ? (status as ContainerState) : 'dead';
}

export function serviceStatus(service: string, info: ContainerInfo | undefined): ServiceStatus {
  if (!info) return { service, containerId: null, state: 'missing', health: 'none', exitCode: null };
  const state = containerState(info.State.Status);
  return {
    service,
    containerId: info.Id,
    state,
    health: info.State.Health?.Status ?? 'none',
    exitCode: state === 'exited' || state === 'dead' ? info.State.ExitCode : null,
  };
}

function completed(status: ServiceStatus, info: ContainerInfo | undefined): boolean {
  const policy = info?.HostConfig.RestartPolicy?.Name ?? '';
  return status.state === 'exited' && status.exitCode === 0 && ['', 'no', 'on-failure'].includes(policy);
}

/** `services` in start order; `containers` by service name. */
export function appStatus(
  appId: string,
  services: string[],
  containers: Map<string, ContainerInfo>,
): AppStatus {
  const statuses = services.map((service) => serviceStatus(service, containers.get(service)));
  if (containers.size === 0) return { appId, state: 'missing', services: statuses };
  const active = statuses.filter((status) => !completed(status, containers.get(status.service)));
  const running = active.filter((s) => s.state === 'running');
  const restarting = active.filter((s) => s.state === 'restarting');
  let state: AppStatus['state'];
  if (active.length > 0 && running.length === active.length) {
    if (running.some((s) => s.health === 'unhealthy')) state = 'unhealthy';
    else if (running.some((s) => s.health === 'starting')) state = 'starting';
    else state = 'running';
  } else if (running.length + restarting.length === 0) {
    state = statuses.some((s) => s.state === 'missing') ? 'partial' : 'stopped';
  } else if (restarting.length > 0) {
    state = 'unhealthy';
  } else {
    state = 'partial';
  }
  return { appId, state, services: statuses };
}
