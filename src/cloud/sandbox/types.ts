import type { Readable } from 'node:stream';
import type { ValidatedRelease } from '../../core/release/types.js';

/*
 * The contract between the sandbox (sandbox/, driving the Docker Engine API
 * over its unix socket) and its users: the installer (apps/), the gateway's
 * app resolution and the reconciler. Everything Warren creates in Docker
 * carries WARREN_LABELS; nothing without them is ever touched.
 */

/** Labels on every network, volume and container Warren makes. */
export const WARREN_LABELS = {
  /** Marks the object as Warren's; value: the instance id (several instances may share an engine). */
  instance: 'dev.warren.instance',
  /** The app id. */
  app: 'dev.warren.app',
  /** The app version the object was made for. */
  version: 'dev.warren.version',
  /** The compose service name (containers only). */
  service: 'dev.warren.service',
  /** '1' on the main service's container (the one the gateway routes to). */
  main: 'dev.warren.main',
} as const;

/** Ceilings the admin sets; an app's own requests (app.yml `resources`) are clamped to them. */
export interface SandboxCaps {
  /** Bytes of memory per container. */
  memoryBytes: number;
  /** CPUs per container (e.g. 1.5). */
  cpus: number;
  /** Processes per container. */
  pids: number;
}

/** What the installer hands the sandbox once the release is verified and its images are loaded. */
export interface AppDeployment {
  release: ValidatedRelease;
  /** Compose service name -> the loaded image's id (sha256:…) in the engine. */
  images: Record<string, string>;
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'missing';

export interface ServiceStatus {
  service: string;
  containerId: string | null;
  state: ContainerState;
  /** Docker's health status when the service has a healthcheck. */
  health: 'starting' | 'healthy' | 'unhealthy' | 'none';
  /** Exit code when exited. */
  exitCode: number | null;
}

export interface AppStatus {
  appId: string;
  /** 'running': every service running (and healthy where it has a check). */
  state: 'running' | 'starting' | 'stopped' | 'unhealthy' | 'partial' | 'missing';
  services: ServiceStatus[];
}

/** Where the gateway sends an app's requests: the main container's address on the app's network. */
export interface AppTarget {
  host: string;
  port: number;
}

export interface LogOptions {
  /** One service, or all of the app's services interleaved. */
  service?: string;
  /** Last lines per service (at most 10 000). */
  tail: number;
  follow: boolean;
}

/** What reconcile found in the engine that carries this instance's labels. */
export interface ManagedObjects {
  /** appId -> its containers (service name, id, version label). */
  containers: Map<string, Array<{ id: string; service: string; version: string; state: ContainerState }>>;
  networks: Map<string, string[]>;
  volumes: Map<string, string[]>;
}

/** The sandbox as its users see it (sandbox/sandbox.ts implements it). */
export interface AppSandbox {
  /** Creates the app's network, volumes and containers (not started). Idempotent: repairs what a crash left half-made. */
  create(deployment: AppDeployment): Promise<void>;
  start(appId: string): Promise<void>;
  stop(appId: string): Promise<void>;
  restart(appId: string): Promise<void>;
  /** Removes containers and network; volumes too unless keepData. */
  remove(appId: string, options: { keepData: boolean }): Promise<void>;
  status(appId: string): Promise<AppStatus>;
  /** The main service's address, or undefined when it is not running. */
  target(appId: string): Promise<AppTarget | undefined>;
  logs(appId: string, options: LogOptions): Promise<Readable>;
  /** Everything in the engine carrying this instance's labels. */
  listManaged(): Promise<ManagedObjects>;
}
