import type { Kysely } from 'kysely';
import type { AuditLog } from '../../core/db/audit-log.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { AppsTable, CloudDatabase } from '../db/schema.js';
import type { AppRoute } from '../gateway/types.js';
import type { AppSandbox, AppStatus } from '../sandbox/types.js';
import {
  type Actor,
  AppControl,
  AppLocks,
  appNotFound,
  busyError,
  INSTALLING,
  SYSTEM_ACTOR,
} from './app-control.js';
import { failureDetail } from './app-view.js';
import type { AppImages } from './images.js';
import { prepareInstall } from './install-request.js';
import {
  ensureImages,
  InstallerHalted,
  type InstallHooks,
  type InstallJob,
  readRow,
  runInstall,
  type StepContext,
  type StepProgress,
  updateRow,
  verifiedRelease,
} from './install-steps.js';
import { KeptData } from './kept-data.js';
import type { ReleaseFetcher } from './release-fetch.js';
import type { AcceptedIndex } from './store-index.js';

/*
 * Installs, updates, removes, starts and stops apps. An install is a state
 * machine persisted in the app's row (install-steps.ts); installs run one at
 * a time from a bounded queue (a full queue: 429; an app already busy: 409).
 * Start, stop and restart are synchronous; uninstall runs in the background
 * (state 'removing'). Every action is audited. route() tells the gateway
 * where an app runs.
 */

export interface IndexSource {
  refresh(): Promise<AcceptedIndex>;
  lastAccepted(): Promise<AcceptedIndex | undefined>;
}

export interface InstallerOptions {
  db: Kysely<CloudDatabase>;
  log: Logger;
  audit: AuditLog<CloudDatabase>;
  sandbox: AppSandbox;
  index: IndexSource;
  releases: ReleaseFetcher;
  images: AppImages;
  /** Drops an uninstalled app's grants and app sessions (auth/access.ts AppAccess). */
  access: { forgetApp(appId: string): Promise<void> };
  /** The cloud's data folder (kept-data record under <data>/apps). */
  dataDir: string;
  /** Installs waiting at most (default 16). */
  queueLimit?: number;
  /** access_mode of a newly installed app (default 'all'; admins may always open every app). */
  defaultAccessMode?: 'all' | 'chosen';
  hooks?: InstallHooks;
}

export class Installer {
  readonly kept: KeptData;
  private readonly ctx: StepContext;
  private readonly queueLimit: number;
  private readonly pending: Array<InstallJob & { actor: Actor }> = [];
  private readonly locks = new AppLocks();
  readonly control: AppControl;
  private readonly background = new Set<Promise<unknown>>();
  private running: Promise<unknown> | undefined;
  private controller: AbortController | undefined;
  private closed = false;
  /** Set when a crash point fired: the installer acts as if its process died. */
  halted = false;

  constructor(private readonly o: InstallerOptions) {
    this.kept = new KeptData(o.dataDir);
    this.queueLimit = o.queueLimit ?? 16;
    this.control = new AppControl({
      db: o.db,
      log: o.log,
      audit: o.audit,
      sandbox: o.sandbox,
      locks: this.locks,
      recreate: (row, start) => this.recreate(row, start),
    });
    this.ctx = {
      db: o.db,
      sandbox: o.sandbox,
      releases: o.releases,
      images: o.images,
      kept: this.kept,
      hooks: o.hooks,
    };
  }

  async open(): Promise<void> {
    await this.o.releases.open();
    await this.kept.open();
  }

  get db(): Kysely<CloudDatabase> {
    return this.o.db;
  }

  get(appId: string): Promise<AppsTable | undefined> {
    return readRow(this.o.db, appId);
  }

  list(): Promise<AppsTable[]> {
    return this.o.db.selectFrom('apps').selectAll().orderBy('id').execute();
  }

  /**
   * Queues an install (or an update of an installed app) of `appId`
   * `version` as the freshly refreshed index lists it, and returns the row
   * (state 'fetching'). Refusals known before any download answer at once.
   */
  async install(appId: string, version: string, actor: Actor): Promise<AppsTable> {
    this.checkOpen();
    this.checkIdle(appId);
    if (this.pending.length >= this.queueLimit) {
      throw new WarrenError(
        'INSTALL_QUEUE_FULL',
        `${this.pending.length} installs are waiting; try again later`,
        429,
      );
    }
    const { index } = await this.o.index.refresh();
    this.locks.claim(appId);
    let prepared: Awaited<ReturnType<typeof prepareInstall>>;
    try {
      prepared = await prepareInstall(this.o.db, index, appId, version, this.o.defaultAccessMode ?? 'all');
    } catch (err) {
      this.locks.release(appId);
      throw err;
    }
    const { job, listed, row } = prepared;
    this.pending.push({ ...job, actor });
    await this.o.audit.record({
      actor: actor.name,
      action: job.replace ? 'app.update' : 'app.install',
      target: `app:${appId}@${version}`,
      address: actor.address,
      detail: { sha256: listed.version.sha256, official: listed.app.official, from: row?.version ?? null },
    });
    this.forgetRoute(appId);
    this.kick();
    return (await this.get(appId))!;
  }

  /** Resumes an install a killed cloud left in its step (reconcile). Resolves true when the app runs. */
  async resume(row: AppsTable, replace: boolean): Promise<boolean> {
    if (!INSTALLING.has(row.state)) return false;
    // A fresh index when the store answers; else the last accepted one (a restart without network).
    const accepted =
      (await this.o.index.refresh().catch(() => undefined)) ?? (await this.o.index.lastAccepted());
    this.locks.add(row.id);
    try {
      const job = { appId: row.id, from: row.state as InstallJob['from'], replace, actor: SYSTEM_ACTOR };
      return await this.run(job, accepted);
    } finally {
      this.locks.release(row.id);
    }
  }

  /** Creates (and with `start`, starts) an installed app's containers again from its verified release. */
  async recreate(row: AppsTable, start: boolean): Promise<void> {
    const accepted =
      (await this.o.index.refresh().catch(() => undefined)) ?? (await this.o.index.lastAccepted());
    if (!accepted) throw new WarrenError('INDEX_MISSING', 'no store index was ever accepted', 502);
    const fetched = await verifiedRelease(this.ctx, row, accepted.index);
    const images = await ensureImages(this.ctx, row.id, fetched.release.compose);
    await this.o.sandbox.create({ release: fetched.release, images });
    if (start) await this.o.sandbox.start(row.id);
    this.forgetRoute(row.id);
  }

  private kick(): void {
    if (this.running || this.halted || this.closed) return;
    const job = this.pending.shift();
    if (!job) return;
    this.running = this.o.index
      .lastAccepted()
      .then((accepted) => this.run(job, accepted))
      .catch((err: unknown) =>
        this.o.log.error({ err: errorMessage(err), app: job.appId }, 'install crashed'),
      )
      .finally(() => {
        this.running = undefined;
        this.locks.release(job.appId);
        this.kick();
      });
  }

  private async run(
    job: InstallJob & { actor: Actor },
    accepted: AcceptedIndex | undefined,
  ): Promise<boolean> {
    const controller = new AbortController();
    this.controller = controller;
    const progress: StepProgress = { step: job.from };
    try {
      if (!accepted) throw new WarrenError('INDEX_MISSING', 'no store index was ever accepted', 502);
      await runInstall(this.ctx, job, accepted.index, progress, controller.signal);
      const row = await this.get(job.appId);
      this.o.log.info({ app: job.appId, version: row?.version }, 'app installed and running');
      await this.o.audit.recordQuietly({
        actor: job.actor.name,
        action: 'app.installed',
        target: `app:${job.appId}@${row?.version ?? ''}`,
        address: job.actor.address,
        detail: { sha256: row?.sha256 ?? '' },
      });
      return true;
    } catch (err) {
      if (err instanceof InstallerHalted) {
        this.halted = true;
        this.o.log.warn({ app: job.appId, step: progress.step }, err.message);
        return false;
      }
      // Shutting down: the row stays in its step and the next start resumes it.
      if (this.closed && controller.signal.aborted) return false;
      await this.recordFailure(job, progress.step, err);
      return false;
    } finally {
      this.forgetRoute(job.appId);
      if (this.controller === controller) this.controller = undefined;
    }
  }

  private async recordFailure(job: InstallJob & { actor: Actor }, step: string, err: unknown): Promise<void> {
    const detail = failureDetail(step, err);
    this.o.log.warn({ app: job.appId, step, err: errorMessage(err) }, 'install failed');
    const row = await this.get(job.appId);
    if (job.previous && step !== 'creating') {
      // The update was refused before anything changed in the engine: the old version stays.
      if (row && row.sha256 !== job.previous.sha256) await this.o.releases.forget(row.sha256);
      const { id: _id, updated_at: _updated, ...previous } = job.previous;
      await updateRow(this.o.db, job.appId, {
        ...previous,
        state_detail: `update to ${row?.version} ${detail}`,
      });
    } else {
      if (step === 'creating') {
        await this.o.sandbox.remove(job.appId, { keepData: true }).catch((e: unknown) => {
          this.o.log.warn({ app: job.appId, err: errorMessage(e) }, 'could not clean up a failed install');
        });
      }
      await updateRow(this.o.db, job.appId, { state: 'failed', state_detail: detail });
    }
    await this.o.audit.recordQuietly({
      actor: job.actor.name,
      action: 'app.install.failed',
      target: `app:${job.appId}@${row?.version ?? ''}`,
      address: job.actor.address,
      detail: { step, code: err instanceof WarrenError ? err.code : 'INTERNAL', message: errorMessage(err) },
    });
  }

  /** Removes the app (its data too unless keepData) in the background; state 'removing' meanwhile. */
  async uninstall(appId: string, keepData: boolean, actor: Actor): Promise<AppsTable> {
    this.checkOpen();
    const row = await this.mustGet(appId);
    const queued = this.pending.findIndex((j) => j.appId === appId);
    if (queued >= 0) this.pending.splice(queued, 1);
    else this.checkIdle(appId);
    if (row.state === 'removing') throw busyError(appId, row.state);
    this.locks.add(appId);
    await updateRow(this.o.db, appId, { state: 'removing', state_detail: removingDetail(keepData) });
    await this.o.audit.record({
      actor: actor.name,
      action: 'app.uninstall',
      target: `app:${appId}@${row.version}`,
      address: actor.address,
      detail: { keep_data: keepData },
    });
    const removing = (await this.get(appId))!;
    this.track(this.remove(row, keepData, actor).finally(() => this.locks.release(appId)));
    return removing;
  }

  /** Finishes a removal (also one a killed cloud left in 'removing'). Resolves true when done. */
  async remove(row: AppsTable, keepData = row.state_detail !== removingDetail(false), actor = SYSTEM_ACTOR) {
    try {
      await this.o.sandbox.remove(row.id, { keepData });
      if (keepData) await this.kept.add(row.id, row.version);
      else await this.kept.delete(row.id);
      await this.o.db.deleteFrom('apps').where('id', '=', row.id).execute();
      await this.o.access.forgetApp(row.id);
      await this.o.releases.forget(row.sha256);
      await this.o.audit.recordQuietly({
        actor: actor.name,
        action: 'app.removed',
        target: `app:${row.id}@${row.version}`,
        address: actor.address,
        detail: { keep_data: keepData },
      });
      return true;
    } catch (err) {
      this.o.log.warn({ app: row.id, err: errorMessage(err) }, 'removing an app failed');
      await updateRow(this.o.db, row.id, { state: 'failed', state_detail: failureDetail('removing', err) });
      return false;
    } finally {
      this.forgetRoute(row.id);
    }
  }

  start(appId: string, actor: Actor): Promise<AppsTable> {
    this.checkOpen();
    return this.control.action('start', appId, actor);
  }

  stop(appId: string, actor: Actor): Promise<AppsTable> {
    this.checkOpen();
    return this.control.action('stop', appId, actor);
  }

  restart(appId: string, actor: Actor): Promise<AppsTable> {
    this.checkOpen();
    return this.control.action('restart', appId, actor);
  }

  status(appId: string): Promise<{ row: AppsTable; status: AppStatus | undefined }> {
    return this.control.status(appId);
  }

  /** Where the gateway sends `appId`'s requests (gateway/types.ts GatewayRoutes.app). */
  route(appId: string): Promise<AppRoute | undefined> {
    return this.control.route(appId);
  }

  /** Resolves when no install or removal is running or waiting (tests, shutdown). */
  async idle(): Promise<void> {
    while (
      this.running ||
      this.background.size > 0 ||
      (this.pending.length > 0 && !this.halted && !this.closed)
    ) {
      await Promise.allSettled([this.running, ...this.background]);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Stops taking work; a running install is aborted and stays in its step for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.controller?.abort();
    await Promise.allSettled([this.running, ...this.background]);
  }

  private track(promise: Promise<unknown>): void {
    this.background.add(promise);
    void promise.finally(() => this.background.delete(promise));
  }

  private forgetRoute(appId: string): void {
    this.control.forgetRoute(appId);
  }

  private checkOpen(): void {
    if (this.closed || this.halted) throw new WarrenError('SHUTTING_DOWN', 'the cloud is shutting down', 503);
  }

  private checkIdle(appId: string): void {
    this.locks.check(appId);
  }

  private async mustGet(appId: string): Promise<AppsTable> {
    const row = await this.get(appId);
    if (!row) throw appNotFound(appId);
    return row;
  }
}

export function removingDetail(keepData: boolean): string {
  return keepData ? 'removing; its data is kept' : 'removing with its data';
}
