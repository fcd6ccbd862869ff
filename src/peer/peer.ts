import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import type { Registry } from 'prom-client';
import { CertificateKeeper } from '../core/certificates.js';
import { errorMessage, WarrenError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parseHostPort } from '../core/net.js';
import { type RegistryAccess, registryAccess } from '../core/oci/registry-access.js';
import { newRegistry, type OpsServer, startOpsServer } from '../core/ops-server.js';
import { taskIdForDigest, taskIdOf } from '../core/task.js';
import { certificateName, loadTlsDir, type TlsMaterial } from '../core/tls.js';
import type { TrustState } from '../core/trust.js';
import { parseDuration, parseSize } from '../core/units.js';
import { renewThroughManager } from '../protocol/certificate-renewal.js';
import { type Host, HostSchema, type SeedTrigger } from '../protocol/gen/scheduler_pb.js';
import { createSchedulerClient, type SchedulerClient } from '../protocol/scheduler-client.js';
import type { DownloadBody } from './api/download-body.js';
import { groupId, LocalApi, type TaskStatus } from './api/local-api.js';
import { taskStatus } from './api/task-status.js';
import { HostCommands } from './commands/host-commands.js';
import type { PeerConfig } from './config.js';
import { downloadMetrics } from './download/metrics.js';
import { ParentPools } from './download/parents.js';
import { SchedulerPool } from './download/scheduler-link.js';
import { type DownloadInit, type DownloadRequest, TaskDownload } from './download/task-download.js';
import { DiskGc } from './gc/gc.js';
import { type ManagerLink, startManagerLink } from './manager-link.js';
import { MirrorServer } from './mirror/mirror-server.js';
import { startProxy } from './proxy/create-proxy.js';
import type { ProxyServer } from './proxy/proxy-server.js';
import { HttpSource } from './source/http-source.js';
import { TaskStore } from './storage/task-store.js';
import { UploadServer } from './upload/upload-server.js';

/** What a Peer takes besides its configuration. */
export interface PeerOptions {
  /** What the manager says not to trust: revoked clients and parents are refused. */
  trust?: TrustState;
  /** Renew our certificate (in the tls dir) through the manager's RPC at host:port. */
  renewal?: { manager: string };
}

/**
 * The peer daemon (seed peer with `seed: true`): composition root of the
 * task store, upload server, local API, downloads, scheduler link and GC.
 */
export class Peer {
  readonly registry: Registry;
  readonly store: TaskStore;
  readonly socketPath: string;
  host!: Host;
  private readonly downloads = new Map<string, TaskDownload>();
  private readonly abort = new AbortController();
  private tls!: TlsMaterial;
  /** Renews our certificate when `renewal` is set. */
  certificates: CertificateKeeper | undefined;
  /** The schedulers in use (fixed, or from the manager); one per task by consistent hashing. */
  private schedulers!: SchedulerPool;
  private manager: ManagerLink | undefined;
  private source!: HttpSource;
  private pools!: ParentPools;
  private upload!: UploadServer;
  private api!: LocalApi;
  private ops!: OpsServer;
  private proxy: ProxyServer | undefined;
  private mirror: MirrorServer | undefined;
  private registries!: RegistryAccess;
  private gc!: DiskGc;
  private metrics!: ReturnType<typeof downloadMetrics>;
  private commands!: HostCommands;
  private readonly downloadInit: DownloadInit;

  constructor(
    private readonly config: PeerConfig,
    private readonly log: Logger,
    private readonly options: PeerOptions = {},
  ) {
    this.registry = newRegistry(config.seed ? 'seed' : 'peer');
    this.store = new TaskStore(join(config.data, 'tasks'), log.child({ component: 'store' }));
    this.socketPath = resolve(config.socket || join(config.data, 'peer.sock'));
    this.downloadInit = {
      memoryBudget: parseSize(config.download.memoryBudget, 'download.memoryBudget'),
      perParentLimit: config.download.perParentLimit,
      stallTimeout: parseDuration(config.download.stallTimeout, 'download.stallTimeout'),
      maxReschedules: config.download.maxReschedules,
    };
  }

  get uploadPort(): number {
    return this.upload.port;
  }
  /** host:port of the HTTP proxy, when `proxy.listen` is set. */
  get proxyAddress(): string | undefined {
    return this.proxy?.address;
  }
  /** host:port of the registry mirror, when `mirror.listen` is set. */
  get mirrorAddress(): string | undefined {
    return this.mirror
      ? `${parseHostPort(this.config.mirror.listen, 'mirror.listen').host}:${this.mirror.port}`
      : undefined;
  }
  get opsPort(): number {
    return this.ops.port;
  }

  async start(): Promise<void> {
    const c = this.config;
    await mkdir(c.data, { recursive: true, mode: 0o700 });
    const tlsDir = c.tlsDir || join(c.data, 'tls');
    this.tls = loadTlsDir(tlsDir);
    if (this.options.renewal) {
      this.certificates = new CertificateKeeper({
        tlsDir,
        material: this.tls,
        renew: renewThroughManager(this.options.renewal.manager),
        log: this.log.child({ component: 'certificates' }),
      });
      // Clients read the current certificate whenever they connect.
      this.tls = this.certificates.live;
    }
    const hostId = certificateName(this.tls.cert);
    if (!hostId)
      throw new WarrenError('TLS_NO_NAME', 'the peer certificate has no CN to use as host id', 400);
    await this.store.load();
    this.metrics = downloadMetrics(this.registry);
    const ca = c.source.caFile ? readFileSync(c.source.caFile, 'utf8') : undefined;
    const connectTimeout = parseDuration(c.source.connectTimeout, 'source.connectTimeout');
    const bodyTimeout = parseDuration(c.source.bodyTimeout, 'source.bodyTimeout');
    // OCI registries (mirror upstreams, blob origins) with this peer's own accounts.
    this.registries = registryAccess(c.registries, { ca, connectTimeout, bodyTimeout });
    this.source = new HttpSource({
      authFor: (url) => this.registries.authFor(url),
      rateLimit: parseSize(c.source.rateLimit, 'source.rateLimit'),
      connectTimeout,
      bodyTimeout,
      ca,
    });
    this.pools = new ParentPools(this.tls, c.download.perParentLimit + 1, undefined, this.options.trust);
    const listen = parseHostPort(c.listen, 'listen');
    this.upload = new UploadServer(
      { store: this.store, log: this.log.child({ component: 'upload' }), registry: this.registry },
      {
        host: listen.host,
        port: listen.port,
        tls: this.tls,
        rateLimit: parseSize(c.upload.rateLimit, 'upload.rateLimit'),
        concurrency: c.upload.concurrency,
        trust: this.options.trust,
        certificates: this.certificates,
      },
    );
    await this.upload.start();
    this.certificates?.start();
    const advertise =
      c.advertiseIp || (listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host);
    this.host = create(HostSchema, {
      id: hostId,
      hostname: hostname(),
      ip: advertise,
      uploadPort: this.upload.port,
      isSeed: c.seed,
      idc: c.idc,
      location: c.location,
      uploadLimit: c.upload.concurrency,
    });
    this.commands = new HostCommands({
      log: this.log.child({ component: 'commands' }),
      store: this.store,
      download: (request) => this.download(request),
      cancelDownload: async (taskId, reason) => {
        const download = this.downloads.get(taskId);
        download?.cancel(reason);
        await download?.done.catch(() => undefined);
      },
      removed: (taskId) => this.leave(taskId),
    });
    this.schedulers = new SchedulerPool({
      connect: (address) => createSchedulerClient({ address, tls: this.tls, trust: this.options.trust }),
      hostLoop: (client, signal) => this.hostLoop(client, signal),
      log: this.log.child({ component: 'schedulers' }),
    });
    if (c.scheduler) this.schedulers.set([{ id: c.scheduler, address: c.scheduler }]);
    this.api = new LocalApi(
      {
        log: this.log.child({ component: 'api' }),
        startDownload: (body) => this.startDownload(body),
        listTasks: () => this.store.list().map((t) => this.status(t.id)!),
        taskStatus: (id) => this.status(id),
        storedTask: (id) => this.store.get(id),
        removeTask: (id) => this.removeTask(id),
        runGc: () => this.runGc(),
      },
      { socketPath: this.socketPath, mode: c.socketGroup ? 0o660 : 0o600, group: groupId(c.socketGroup) },
    );
    await this.api.start();
    const ops = parseHostPort(c.opsListen, 'opsListen');
    this.ops = await startOpsServer({ host: ops.host, port: ops.port, registry: this.registry });
    this.gc = new DiskGc(
      { store: this.store, log: this.log.child({ component: 'gc' }), onRemoved: (id) => this.leave(id) },
      {
        interval: parseDuration(c.gc.interval, 'gc.interval'),
        taskTtl: parseDuration(c.gc.taskTtl, 'gc.taskTtl'),
        highWatermark: c.gc.highWatermark,
        lowWatermark: c.gc.lowWatermark,
        diskQuota: parseSize(c.gc.diskQuota, 'gc.diskQuota'),
      },
      c.data,
    );
    this.gc.start();
    if (c.manager.address) {
      // Waits a moment for the first answer (or reads the last one from disk), so that
      // downloads asked for right after start already have their schedulers.
      this.manager = await startManagerLink({
        config: c,
        host: this.host,
        tls: () => this.tls,
        trust: this.options.trust,
        schedulers: this.schedulers,
        gc: (policy) => this.gc.updatePolicy(policy),
        log: this.log.child({ component: 'manager' }),
      });
    }
    if (c.proxy.listen) {
      this.proxy = await startProxy(c, {
        log: this.log.child({ component: 'proxy' }),
        registry: this.registry,
        startDownload: (b) => this.startDownload(b),
        storedTask: (id) => this.store.get(id),
      });
    }
    if (c.mirror.listen) {
      const at = parseHostPort(c.mirror.listen, 'mirror.listen');
      this.mirror = new MirrorServer(
        {
          log: this.log.child({ component: 'mirror' }),
          registry: this.registry,
          upstreams: this.registries.upstreams,
          client: this.registries.client,
          startDownload: (b) => this.startDownload(b),
          storedTask: (id) => this.store.get(id),
        },
        {
          host: at.host,
          port: at.port,
          defaultRegistry: c.mirror.defaultRegistry,
          maxConcurrent: c.mirror.maxConcurrent,
          requestTimeout: parseDuration(c.mirror.requestTimeout, 'mirror.requestTimeout'),
          manifestCache: c.mirror.manifestCache,
        },
      );
      await this.mirror.start();
    }
    this.log.info(
      { hostId, upload: this.upload.port, socket: this.socketPath, proxy: this.proxy?.address, seed: c.seed },
      'peer started',
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.manager?.stop();
    this.schedulers?.close();
    this.certificates?.stop();
    this.gc.stop();
    for (const d of this.downloads.values()) d.cancel('peer stopping');
    await this.proxy?.stop();
    await this.mirror?.stop();
    await this.api.stop();
    await this.upload.stop();
    await this.ops.close();
    await this.pools.close();
    await this.source.close();
    await this.registries.close();
    await this.store.close();
  }

  /** Runs GC now (tests and operators); returns removed task IDs. */
  runGc(): Promise<string[]> {
    return this.gc.run();
  }

  /** Starts (or joins) the download of a URL; returns at once with the task ID. */
  async startDownload(body: DownloadBody): Promise<{ taskId: string }> {
    const request: DownloadRequest = {
      // With a digest the task is content-addressed: the URL is only where to fetch it.
      taskId: taskIdOf(body),
      url: body.url,
      headers: body.headers ?? {},
      tag: body.tag ?? '',
      application: body.application ?? '',
      filterQuery: body.filterQuery ?? [],
      ...(body.digest ? { digest: taskIdForDigest(body.digest) } : {}),
    };
    // The task exists before the caller hears its ID, so a content read can follow at once.
    await this.store.getOrCreate({
      taskId: request.taskId,
      url: request.url,
      tag: request.tag,
      application: request.application,
      ...(request.digest ? { digest: request.digest } : {}),
    });
    this.download(request);
    return { taskId: request.taskId };
  }

  private download(request: DownloadRequest): TaskDownload {
    // Join a download still running; a finished one is only kept for status readers.
    const running = this.downloads.get(request.taskId);
    if (running?.state === 'running') return running;
    let active = 0;
    for (const d of this.downloads.values()) if (d.state === 'running') active++;
    if (active >= this.config.download.maxActive) {
      throw new WarrenError('TOO_MANY_DOWNLOADS', `${active} downloads already running`, 503);
    }
    const stored = this.store.get(request.taskId);
    if (stored) stored.failure = undefined;
    const download = new TaskDownload(
      {
        store: this.store,
        scheduler: this.schedulers.forTask(request.taskId),
        source: this.source,
        pools: this.pools,
        host: this.host,
        log: this.log.child({ component: 'download' }),
        metrics: this.metrics,
      },
      this.downloadInit,
      request,
    );
    this.downloads.set(request.taskId, download);
    download
      .run()
      .catch((err) => this.log.warn({ taskId: request.taskId, err: errorMessage(err) }, 'download crashed'))
      .finally(() => {
        // Keep the finished download a moment so status readers see its outcome.
        setTimeout(() => {
          if (this.downloads.get(request.taskId) === download) this.downloads.delete(request.taskId);
        }, 60_000).unref();
      });
    return download;
  }

  private status(taskId: string): TaskStatus | undefined {
    const task = this.store.get(taskId);
    return task ? taskStatus(task, this.downloads.get(taskId)) : undefined;
  }

  private async removeTask(taskId: string): Promise<void> {
    await this.store.remove(taskId);
    this.leave(taskId);
  }

  private leave(taskId: string): void {
    this.downloads.delete(taskId);
    this.schedulers
      ?.forTask(taskId)
      ?.leavePeer({ peerId: `${this.host.id}/${taskId}`, taskId })
      .catch((err) => {
        this.log.debug({ taskId, err: errorMessage(err) }, 'leave not delivered');
      });
  }

  /** Keeps the AnnounceHost stream up (reconnecting with back-off) and takes seed triggers from it. */
  private async hostLoop(scheduler: SchedulerClient, signal: AbortSignal): Promise<void> {
    let backoff = 250;
    while (!signal.aborted) {
      try {
        for await (const event of scheduler.announceHost({ host: this.host }, { signal })) {
          backoff = 250;
          if (event.event.case === 'seedTrigger') this.onSeedTrigger(event.event.value);
          else if (event.event.case === 'command') {
            // Answered to the scheduler that asked (a job of the manager's).
            this.commands.handle(event.event.value, (result) => scheduler.reportCommand(result));
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ err: errorMessage(err) }, 'scheduler host stream lost; reconnecting');
      }
      await sleep(backoff, undefined, { signal }).catch(() => undefined);
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  private onSeedTrigger(trigger: SeedTrigger): void {
    if (!this.config.seed) return;
    let expected: string | undefined;
    try {
      expected = taskIdOf({ ...trigger, digest: trigger.digest || undefined });
    } catch {
      expected = undefined;
    }
    if (expected !== trigger.taskId) {
      this.log.warn(
        { taskId: trigger.taskId },
        'seed trigger whose task id does not match its URL or digest; ignored',
      );
      return;
    }
    try {
      // A blob's origin credentials are this seed's own (registry config): none travel with the trigger.
      this.download({
        taskId: trigger.taskId,
        url: trigger.url,
        headers: trigger.headers,
        tag: trigger.tag,
        application: trigger.application,
        filterQuery: trigger.filterQuery,
        ...(trigger.digest ? { digest: trigger.taskId } : {}),
      });
    } catch (err) {
      this.log.warn({ taskId: trigger.taskId, err: errorMessage(err) }, 'seed trigger refused');
    }
  }
}
