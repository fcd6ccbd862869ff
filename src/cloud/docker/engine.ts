import { Readable } from 'node:stream';
import { Client, type Dispatcher } from 'undici';
import { DEFAULT_MAX_LINE_BYTES, demuxLines } from './logs.js';
import { DockerError, EngineTransport, isNotFound } from './transport.js';
import type {
  ContainerCreateBody,
  ContainerInfo,
  ContainerSummary,
  Filters,
  ImageInfo,
  NetworkCreateBody,
  NetworkInfo,
  VersionInfo,
  VolumeCreateBody,
  VolumeInfo,
} from './types.js';

/*
 * A thin Docker Engine API client over the engine's unix socket (undici; no
 * Docker CLI, no compose tool). The API version is pinned: Docker 20.10
 * speaks v1.41, and newer engines still accept it. Every answer is read
 * under a size bound; every failure is a WarrenError naming the operation
 * and Docker's own message.
 */

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DOCKER_API_VERSION = '1.41';
export { DockerError, isNotFound };

export interface DockerEngineOptions {
  /** Default /var/run/docker.sock. */
  socketPath?: string;
  /** Default 1.41 (Docker 20.10). */
  apiVersion?: string;
  /** Time to wait for Docker's answer to one request (not log streams). Default 60 s. */
  timeoutMs?: number;
  /** Largest JSON answer read. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Log streams open at once (each holds its own connection). Default 64. */
  maxLogStreams?: number;
}

export interface LogsOptions {
  /** Last lines (Docker's `tail`); undefined for all. */
  tail?: number;
  follow?: boolean;
  timestamps?: boolean;
  maxLineBytes?: number;
}

export class DockerEngine {
  readonly socketPath: string;
  private readonly transport: EngineTransport;
  private readonly timeoutMs: number;
  private readonly maxLogStreams: number;
  private readonly logStreams = new Set<Client>();

  constructor(options: DockerEngineOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_DOCKER_SOCKET;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxLogStreams = options.maxLogStreams ?? 64;
    this.transport = new EngineTransport(
      this.socketPath,
      `/v${options.apiVersion ?? DOCKER_API_VERSION}`,
      this.timeoutMs,
      options.maxBodyBytes ?? 8 * 1024 * 1024,
    );
  }

  /** Closes the connections, log streams included. */
  async close(): Promise<void> {
    await Promise.all([...this.logStreams].map((client) => client.destroy()));
    await this.transport.pool.close();
  }

  // --- system ---------------------------------------------------------------

  async ping(): Promise<void> {
    await this.transport.call('ping', { method: 'GET', path: '/_ping', timeoutMs: 10_000 });
  }

  version(): Promise<VersionInfo> {
    return this.transport.json('version', { method: 'GET', path: '/version', timeoutMs: 10_000 });
  }

  // --- images ---------------------------------------------------------------

  /** The image, or undefined when the engine has none by that id or name. */
  imageInspect(idOrName: string): Promise<ImageInfo | undefined> {
    return this.orUndefined(
      this.transport.json(`inspect image ${idOrName}`, {
        method: 'GET',
        path: `/images/${enc(idOrName)}/json`,
      }),
    );
  }

  // --- networks ---------------------------------------------------------------

  async networkCreate(body: NetworkCreateBody): Promise<string> {
    const res = await this.transport.json<{ Id: string }>(`create network ${body.Name}`, {
      method: 'POST',
      path: '/networks/create',
      body,
    });
    return res.Id;
  }

  networkInspect(idOrName: string): Promise<NetworkInfo | undefined> {
    return this.orUndefined(
      this.transport.json(`inspect network ${idOrName}`, {
        method: 'GET',
        path: `/networks/${enc(idOrName)}`,
      }),
    );
  }

  networkList(filters: Filters = {}): Promise<NetworkInfo[]> {
    return this.transport.json('list networks', {
      method: 'GET',
      path: '/networks',
      query: { filters: json(filters) },
    });
  }

  /** Removes the network; one that is already gone is not an error. */
  async networkRemove(id: string): Promise<void> {
    await this.transport.call(`remove network ${id}`, {
      method: 'DELETE',
      path: `/networks/${enc(id)}`,
      accept: [404],
    });
  }

  // --- volumes ----------------------------------------------------------------

  volumeCreate(body: VolumeCreateBody): Promise<VolumeInfo> {
    return this.transport.json(`create volume ${body.Name}`, {
      method: 'POST',
      path: '/volumes/create',
      body,
    });
  }

  volumeInspect(name: string): Promise<VolumeInfo | undefined> {
    return this.orUndefined(
      this.transport.json(`inspect volume ${name}`, { method: 'GET', path: `/volumes/${enc(name)}` }),
    );
  }

  async volumeList(filters: Filters = {}): Promise<VolumeInfo[]> {
    const res = await this.transport.json<{ Volumes: VolumeInfo[] | null }>('list volumes', {
      method: 'GET',
      path: '/volumes',
      query: { filters: json(filters) },
    });
    return res.Volumes ?? [];
  }

  async volumeRemove(name: string): Promise<void> {
    await this.transport.call(`remove volume ${name}`, {
      method: 'DELETE',
      path: `/volumes/${enc(name)}`,
      accept: [404],
    });
  }

  // --- containers -------------------------------------------------------------

  async containerCreate(name: string, body: ContainerCreateBody): Promise<string> {
    const res = await this.transport.json<{ Id: string }>(`create container ${name}`, {
      method: 'POST',
      path: '/containers/create',
      query: { name },
      body,
    });
    return res.Id;
  }

  /** Starts the container; one already running is not an error. */
  async containerStart(id: string): Promise<void> {
    await this.transport.call(`start container ${id}`, {
      method: 'POST',
      path: `/containers/${enc(id)}/start`,
      accept: [304],
    });
  }

  /**
   * Stops the container (its StopSignal, then SIGKILL after `timeoutSeconds`
   * or its own StopTimeout); one already stopped is not an error.
   */
  async containerStop(id: string, timeoutSeconds?: number, graceSeconds = 600): Promise<void> {
    await this.transport.call(`stop container ${id}`, {
      method: 'POST',
      path: `/containers/${enc(id)}/stop`,
      query: { t: timeoutSeconds },
      accept: [304],
      timeoutMs: ((timeoutSeconds ?? graceSeconds) + 30) * 1000,
    });
  }

  async containerRestart(id: string, timeoutSeconds?: number, graceSeconds = 600): Promise<void> {
    await this.transport.call(`restart container ${id}`, {
      method: 'POST',
      path: `/containers/${enc(id)}/restart`,
      query: { t: timeoutSeconds },
      timeoutMs: ((timeoutSeconds ?? graceSeconds) + 60) * 1000,
    });
  }

  /** Removes the container (force: kills it first); one already gone is not an error. */
  async containerRemove(id: string, options: { force?: boolean } = {}): Promise<void> {
    await this.transport.call(`remove container ${id}`, {
      method: 'DELETE',
      path: `/containers/${enc(id)}`,
      query: { force: options.force ?? false, v: false },
      accept: [404],
    });
  }

  containerInspect(idOrName: string): Promise<ContainerInfo | undefined> {
    return this.orUndefined(
      this.transport.json(`inspect container ${idOrName}`, {
        method: 'GET',
        path: `/containers/${enc(idOrName)}/json`,
      }),
    );
  }

  containerList(options: { all?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    return this.transport.json('list containers', {
      method: 'GET',
      path: '/containers/json',
      query: { all: options.all ?? true, filters: json(options.filters ?? {}) },
    });
  }

  /**
   * The container's stdout and stderr as text lines (a Readable of strings,
   * one line each, ending in "\n"; stderr lines are not marked). With
   * `follow` it runs until the container stops or the Readable is destroyed.
   */
  async containerLogs(id: string, options: LogsOptions = {}): Promise<Readable> {
    const operation = `read the logs of container ${id}`;
    if (this.logStreams.size >= this.maxLogStreams) {
      throw new DockerError(
        'DOCKER_BUSY',
        `Docker Engine: ${operation}: ${this.maxLogStreams} log streams are open already; close one`,
        0,
        429,
      );
    }
    // Its own connection: a followed log may stay open for hours.
    const client = new Client('http://docker', { socketPath: this.socketPath });
    this.logStreams.add(client);
    const release = () => {
      this.logStreams.delete(client);
      client.destroy().catch(() => {});
    };
    let res: Dispatcher.ResponseData;
    try {
      res = await this.transport.send(client, operation, {
        method: 'GET',
        path: `/containers/${enc(id)}/logs`,
        query: {
          stdout: true,
          stderr: true,
          follow: options.follow ?? false,
          timestamps: options.timestamps ?? false,
          tail: options.tail === undefined ? 'all' : Math.max(0, Math.floor(options.tail)),
        },
        bodyTimeoutMs: options.follow ? 0 : this.timeoutMs,
      });
      if (res.statusCode !== 200)
        throw this.transport.refusal(
          operation,
          res.statusCode,
          await this.transport.read(res.body, operation),
        );
    } catch (err) {
      release();
      throw err;
    }
    const body = res.body;
    async function* lines() {
      try {
        for await (const line of demuxLines(body, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES)) {
          yield `${line.text}\n`;
        }
      } finally {
        body.destroy();
        release();
      }
    }
    return Readable.from(lines(), { objectMode: true });
  }

  // --- plumbing ---------------------------------------------------------------

  private async orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

function enc(part: string): string {
  return encodeURIComponent(part);
}

function json(filters: Filters): string {
  return JSON.stringify(filters);
}
