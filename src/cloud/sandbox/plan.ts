import { createHash } from 'node:crypto';
import { WarrenError } from '../../core/errors.js';
import type { ContainerCreateBody, Labels, NetworkCreateBody, VolumeCreateBody } from '../docker/types.js';
import { type Dependency, dependencies, dependencyOrder } from './order.js';
import {
  commandList,
  durationNanos,
  environment,
  exposedPorts,
  healthcheck,
  restartPolicy,
  tmpfsEntries,
  toMount,
} from './translate.js';
import { type AppDeployment, type SandboxCaps, WARREN_LABELS } from './types.js';

/*
 * The sandbox of one app as Engine API create bodies (SPEC.md §1 "Sandbox",
 * issue 6): one user-defined bridge network per app, named volumes only,
 * every capability dropped but a short allowlist, no-new-privileges, limits
 * within the admin's caps, no published ports. Pure: the deployment in,
 * bodies out; sandbox.ts sends them. assertSandboxed() re-checks every body
 * before it leaves, whatever the compose file said.
 */

/** Labels the sandbox adds beside WARREN_LABELS (its own bookkeeping). */
export const SANDBOX_LABELS = {
  /** SHA-256 of the container's create body: a container whose body changed is replaced. */
  config: 'dev.warren.config',
  /** JSON [{service, condition}] of the service's depends_on. */
  dependsOn: 'dev.warren.depends-on',
  /** Every service of the app, comma-separated, in start order. */
  services: 'dev.warren.services',
  /** The main service's internal port (main container only). */
  port: 'dev.warren.port',
  /** The compose volume a Docker volume is for (`_<service>:<path>` for an anonymous one). */
  volume: 'dev.warren.volume',
} as const;

/**
 * Capabilities kept after CapDrop ALL. Each one is what common images need
 * to start, and none reaches outside the container (no ports are published,
 * no-new-privileges is set, the user namespace is Docker's default):
 */
export const CAP_ADD = [
  // Entrypoints (postgres, redis, nginx…) chown their data folders to the service user on first start.
  'CHOWN',
  // Root in the container reads and writes files of other users in its own volumes (data dirs of the service user).
  'DAC_OVERRIDE',
  // chmod and timestamps on files it does not own, in its own volumes (permission fix-ups in entrypoints).
  'FOWNER',
  // Dropping from root to the service's user (gosu, su-exec, nginx workers); no-new-privileges stops the reverse.
  'SETGID',
  'SETUID',
  // Listening on ports below 1024 (nginx on :80) inside the app's own network namespace; nothing is published.
  'NET_BIND_SERVICE',
] as const;

export interface PlanOptions {
  /** json-file log rotation: size of one file. Default '10m'. */
  logMaxSize?: string;
  /** json-file log rotation: files kept. Default 3. */
  logMaxFiles?: number;
  /** Longest stop_grace_period honoured, in seconds. Default 600. */
  maxStopSeconds?: number;
}

export interface PlannedContainer {
  service: string;
  name: string;
  main: boolean;
  dependsOn: Dependency[];
  body: ContainerCreateBody;
}

export interface SandboxPlan {
  appId: string;
  version: string;
  network: NetworkCreateBody;
  volumes: VolumeCreateBody[];
  /** In dependency order: create and start in this order, stop in reverse. */
  containers: PlannedContainer[];
}

/** The first 8 letters and digits of the instance id, lower case: part of every name. */
export function instanceTag(instanceId: string): string {
  const tag = instanceId
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 8);
  if (tag.length < 8)
    throw new WarrenError('SANDBOX_INSTANCE_ID', `instance id '${instanceId}' is too short`, 500);
  return tag;
}

/*
 * Names. App ids never hold '_' (^[a-z][a-z0-9-]+$), so '_' after the app id
 * keeps `notes` + `web-x` apart from `notes-web` + `x`; a compose volume name
 * never starts with '_', so '__' marks anonymous volumes.
 */
export const networkName = (tag: string, appId: string) => `warren-${tag}-${appId}`;
export const containerName = (tag: string, appId: string, service: string) =>
  `warren-${tag}-${appId}_${service}`;
export const volumeName = (tag: string, appId: string, volume: string) => `warren-${tag}-${appId}_${volume}`;
const anonymousVolumeName = (tag: string, appId: string, service: string, target: string) =>
  `warren-${tag}-${appId}__${service}.${createHash('sha256').update(target).digest('hex').slice(0, 12)}`;

const IMAGE_ID = /^sha256:[a-f0-9]{64}$/;

export function planSandbox(
  deployment: AppDeployment,
  caps: SandboxCaps,
  instanceId: string,
  options: PlanOptions = {},
): SandboxPlan {
  const { manifest, compose } = deployment.release;
  const tag = instanceTag(instanceId);
  const appId = manifest.id;
  const base: Labels = { [WARREN_LABELS.instance]: instanceId, [WARREN_LABELS.app]: appId };
  const network: NetworkCreateBody = {
    Name: networkName(tag, appId),
    Driver: 'bridge',
    CheckDuplicate: true,
    // Not internal: apps may reach the internet. Docker's isolation rules keep bridges apart.
    Internal: false,
    Attachable: false,
    EnableIPv6: false,
    Labels: { ...base },
    Options: {
      'com.docker.network.bridge.enable_icc': 'true',
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
    },
  };
  const services = (compose['services'] ?? {}) as Record<string, Record<string, unknown>>;
  const order = dependencyOrder(services);
  const limits = clamp(manifest.resources ?? {}, caps);
  const volumes = new Map<string, VolumeCreateBody>();
  for (const name of Object.keys((compose['volumes'] ?? {}) as object)) {
    const volume = volumeName(tag, appId, name);
    volumes.set(volume, volumeBody(volume, base, name));
  }
  const containers = order.map((service): PlannedContainer => {
    const spec = services[service]!;
    const where = `services.${service}`;
    const image = deployment.images[service];
    if (!image || !IMAGE_ID.test(image)) {
      throw new WarrenError(
        'SANDBOX_IMAGE_MISSING',
        `service ${service} has no loaded image id (sha256:…)`,
        500,
      );
    }
    const main = service === manifest.mainService;
    const mounts = (spec['volumes'] as unknown[] | undefined)?.map((item, i) => {
      const mount = toMount(item, limits.memoryBytes, `${where}.volumes[${i}]`, (source) =>
        volumeName(tag, appId, source),
      );
      if (mount.Type === 'volume' && mount.Source === undefined) {
        mount.Source = anonymousVolumeName(tag, appId, service, mount.Target);
        volumes.set(mount.Source, volumeBody(mount.Source, base, `_${service}:${mount.Target}`));
      }
      return mount;
    });
    const dependsOn = dependencies(spec['depends_on']);
    const stopSeconds =
      typeof spec['stop_grace_period'] === 'string'
        ? Math.min(
            Math.ceil(durationNanos(spec['stop_grace_period'], `${where}.stop_grace_period`) / 1e9),
            options.maxStopSeconds ?? 600,
          )
        : undefined;
    const labels: Labels = {
      ...base,
      [WARREN_LABELS.version]: manifest.version,
      [WARREN_LABELS.service]: service,
      ...(main ? { [WARREN_LABELS.main]: '1', [SANDBOX_LABELS.port]: String(manifest.internalPort) } : {}),
      [SANDBOX_LABELS.services]: order.join(','),
      [SANDBOX_LABELS.dependsOn]: JSON.stringify(dependsOn),
    };
    const body: ContainerCreateBody = {
      Image: image,
      ...(spec['command'] !== undefined ? { Cmd: commandList(spec['command'], `${where}.command`) } : {}),
      ...(spec['entrypoint'] !== undefined
        ? { Entrypoint: commandList(spec['entrypoint'], `${where}.entrypoint`) }
        : {}),
      Env: environment(spec['environment']),
      ...(spec['user'] !== undefined ? { User: String(spec['user']) } : {}),
      ...(spec['working_dir'] !== undefined ? { WorkingDir: spec['working_dir'] as string } : {}),
      ExposedPorts: Object.fromEntries(
        exposedPorts(spec['expose'], main ? manifest.internalPort : undefined, `${where}.expose`).map((p) => [
          p,
          {},
        ]),
      ),
      ...(spec['healthcheck'] !== undefined
        ? { Healthcheck: healthcheck(spec['healthcheck'] as Record<string, unknown>, `${where}.healthcheck`) }
        : {}),
      ...(spec['stop_signal'] !== undefined ? { StopSignal: spec['stop_signal'] as string } : {}),
      ...(stopSeconds !== undefined ? { StopTimeout: stopSeconds } : {}),
      Labels: labels,
      Tty: false,
      OpenStdin: false,
      HostConfig: {
        NetworkMode: network.Name,
        Binds: [],
        Mounts: mounts ?? [],
        Tmpfs: tmpfsEntries(spec['tmpfs'], limits.memoryBytes, `${where}.tmpfs`),
        CapDrop: ['ALL'],
        CapAdd: [...CAP_ADD],
        SecurityOpt: ['no-new-privileges:true'],
        Privileged: false,
        ReadonlyRootfs: spec['read_only'] === true,
        Memory: limits.memoryBytes,
        // Equal to Memory: no swap on top of the limit.
        MemorySwap: limits.memoryBytes,
        NanoCpus: Math.round(limits.cpus * 1e9),
        PidsLimit: limits.pids,
        PortBindings: {},
        PublishAllPorts: false,
        Devices: [],
        IpcMode: 'private',
        CgroupnsMode: 'private',
        RestartPolicy: restartPolicy(spec['restart']),
        Init: spec['init'] === true,
        LogConfig: {
          Type: 'json-file',
          Config: { 'max-size': options.logMaxSize ?? '10m', 'max-file': String(options.logMaxFiles ?? 3) },
        },
        AutoRemove: false,
      },
      NetworkingConfig: { EndpointsConfig: { [network.Name]: { Aliases: [service] } } },
    };
    body.Labels[SANDBOX_LABELS.config] = configHash(body);
    const name = containerName(tag, appId, service);
    assertSandboxed(body, network.Name, `warren-${tag}-${appId}_`, name);
    return { service, name, main, dependsOn, body };
  });
  return { appId, version: manifest.version, network, volumes: [...volumes.values()], containers };
}

/** The app's requests clamped to the caps; what it does not ask for gets the cap. */
export function clamp(
  requested: { memoryBytes?: number; cpus?: number; pids?: number },
  caps: SandboxCaps,
): SandboxCaps {
  return {
    memoryBytes: Math.min(requested.memoryBytes ?? caps.memoryBytes, caps.memoryBytes),
    cpus: Math.min(requested.cpus ?? caps.cpus, caps.cpus),
    pids: Math.min(requested.pids ?? caps.pids, caps.pids),
  };
}

function volumeBody(name: string, base: Labels, composeName: string): VolumeCreateBody {
  return {
    Name: name,
    Driver: 'local',
    DriverOpts: {},
    Labels: { ...base, [SANDBOX_LABELS.volume]: composeName },
  };
}

/** The hash in the config label: over the body without that label. */
export function configHash(body: ContainerCreateBody): string {
  const { [SANDBOX_LABELS.config]: _, ...labels } = body.Labels;
  return createHash('sha256')
    .update(JSON.stringify({ ...body, Labels: labels }))
    .digest('hex');
}

/**
 * The rules, checked on the finished body (defence in depth: whatever the
 * compose file or a bug in this module did, no body breaking them leaves).
 */
export function assertSandboxed(
  body: ContainerCreateBody,
  network: string,
  volumePrefix: string,
  name: string,
): void {
  const host = body.HostConfig;
  const broken: string[] = [];
  if (host.Binds.length > 0) broken.push('bind mounts');
  for (const mount of host.Mounts) {
    if (mount.Type === 'volume' && !(mount.Source?.startsWith(volumePrefix) && !mount.Source.includes('/'))) {
      broken.push(`volume ${mount.Source} is not one of the app's`);
    }
    if (mount.Type !== 'volume' && mount.Type !== 'tmpfs') broken.push(`mount type ${mount.Type}`);
  }
  if (host.Privileged !== false) broken.push('privileged');
  if (
    host.CapDrop.join() !== 'ALL' ||
    host.CapAdd.some((cap) => !(CAP_ADD as readonly string[]).includes(cap))
  ) {
    broken.push('capabilities');
  }
  if (!host.SecurityOpt.includes('no-new-privileges:true')) broken.push('no-new-privileges');
  if (Object.keys(host.PortBindings).length > 0 || host.PublishAllPorts !== false)
    broken.push('published ports');
  if (host.Devices.length > 0) broken.push('devices');
  if (host.NetworkMode !== network || Object.keys(body.NetworkingConfig.EndpointsConfig).join() !== network) {
    broken.push('networks');
  }
  if (!(host.Memory > 0 && host.NanoCpus > 0 && host.PidsLimit > 0)) broken.push('limits');
  if (broken.length > 0) {
    throw new WarrenError(
      'SANDBOX_RULES',
      `container ${name} would break the sandbox rules: ${broken.join(', ')}`,
      500,
    );
  }
}
