import type { Kysely } from 'kysely';
import type { AuditLog } from '../../core/db/audit-log.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { AppsTable, CloudDatabase } from '../db/schema.js';
import type { AppRoute } from '../gateway/types.js';
import type { AppSandbox, AppStatus } from '../sandbox/types.js';
import { appRoute, failureDetail, hasRelease } from './app-view.js';
import { readRow, updateRow } from './install-steps.js';

/*
 * An installed app's life after install: start, stop, restart (synchronous,
 * audited), its status (the row merged with the sandbox's view) and its
 * route for the gateway (cached briefly while it runs). One action per app
 * at a time: AppLocks is shared with the installer.
 */

/** Who asked, for the audit log. */
export interface Actor {
  name: string;
  address: string;
}

export const SYSTEM_ACTOR: Actor = { name: 'system', address: '' };

export const INSTALLING: ReadonlySet<string> = new Set(['fetching', 'loading', 'creating']);
const ROUTE_TTL_MS = 2_000;
const MAX_ROUTES = 1_000;

/** Apps with an install, removal or action in progress. */
export class AppLocks {
  private readonly busy = new Set<string>();

  has(appId: string): boolean {
    return this.busy.has(appId);
  }

  /** Throws 409 APP_BUSY when the app is busy; else marks it busy. */
  claim(appId: string): void {
    this.check(appId);
    this.busy.add(appId);
  }

  check(appId: string): void {
    if (this.busy.has(appId)) throw busyError(appId, 'busy with another action');
  }

  add(appId: string): void {
    this.busy.add(appId);
  }

  release(appId: string): void {
    this.busy.delete(appId);
  }
}

export function busyError(appId: string, state: string): WarrenError {
  return new WarrenError('APP_BUSY', `${appId} is ${state}; wait until it is done`, 409);
}

export function appNotFound(appId: string): WarrenError {
  return new WarrenError('APP_NOT_FOUND', `no app '${appId}' is installed`, 404);
}

export interface AppControlOptions {
  db: Kysely<CloudDatabase>;
  log: Logger;
  audit: AuditLog<CloudDatabase>;
  sandbox: AppSandbox;
  locks: AppLocks;
  /** Creates an installed app's containers again from its verified release (the installer's). */
  recreate(row: AppsTable, start: boolean): Promise<void>;
}

export class AppControl {
  private readonly routes = new Map<string, { route: AppRoute; at: number }>();

  constructor(private readonly o: AppControlOptions) {}

  async action(kind: 'start' | 'stop' | 'restart', appId: string, actor: Actor): Promise<AppsTable> {
    const row = await readRow(this.o.db, appId);
    if (!row) throw appNotFound(appId);
    if (!hasRelease(row) || !['running', 'stopped', 'failed'].includes(row.state)) {
      throw new WarrenError('APP_NOT_READY', `${appId} is ${row.state}: it cannot ${kind} now`, 409);
    }
    this.o.locks.claim(appId);
    try {
      if (kind === 'stop') {
        await this.o.sandbox.stop(appId);
        await updateRow(this.o.db, appId, { state: 'stopped', state_detail: '' });
      } else {
        const status = await this.o.sandbox.status(appId);
        const missing = status.state === 'missing' || status.services.some((s) => s.state === 'missing');
        if (missing) await this.o.recreate(row, true);
        else if (kind === 'start') await this.o.sandbox.start(appId);
        else await this.o.sandbox.restart(appId);
        await updateRow(this.o.db, appId, { state: 'running', state_detail: '' });
      }
    } catch (err) {
      await updateRow(this.o.db, appId, { state: 'failed', state_detail: failureDetail(kind, err) });
      await this.o.audit.recordQuietly({
        actor: actor.name,
        action: `app.${kind}.failed`,
        target: `app:${appId}`,
        address: actor.address,
        detail: { message: errorMessage(err) },
      });
      throw err instanceof WarrenError ? err : new WarrenError('SANDBOX_FAILED', errorMessage(err), 502);
    } finally {
      this.o.locks.release(appId);
      this.forgetRoute(appId);
    }
    await this.o.audit.record({
      actor: actor.name,
      action: `app.${kind}`,
      target: `app:${appId}`,
      address: actor.address,
    });
    return (await readRow(this.o.db, appId))!;
  }

  /** The row and, once installed, the sandbox's view of its containers. */
  async status(appId: string): Promise<{ row: AppsTable; status: AppStatus | undefined }> {
    const row = await readRow(this.o.db, appId);
    if (!row) throw appNotFound(appId);
    return { row, status: await this.sandboxStatus(row) };
  }

  /** The sandbox's view of an installed app (undefined while installing or when Docker fails). */
  async sandboxStatus(row: AppsTable): Promise<AppStatus | undefined> {
    if (INSTALLING.has(row.state) || !hasRelease(row)) return undefined;
    return this.o.sandbox.status(row.id).catch((err: unknown) => {
      this.o.log.warn({ app: row.id, err: errorMessage(err) }, 'sandbox status failed');
      return undefined;
    });
  }

  /** Where the gateway sends `appId`'s requests; undefined when no such app is installed. */
  async route(appId: string): Promise<AppRoute | undefined> {
    const cached = this.routes.get(appId);
    if (cached && Date.now() - cached.at < ROUTE_TTL_MS) return cached.route;
    const row = await readRow(this.o.db, appId);
    if (!row) return undefined;
    if (row.state !== 'running') return appRoute(row, undefined, undefined);
    try {
      const target = await this.o.sandbox.target(appId);
      const status = target ? undefined : await this.o.sandbox.status(appId);
      const route = appRoute(row, target, status);
      if (route.kind === 'running') {
        if (this.routes.size >= MAX_ROUTES) this.routes.clear();
        this.routes.set(appId, { route, at: Date.now() });
      }
      return route;
    } catch (err) {
      return {
        kind: 'unavailable',
        status: 'unhealthy',
        message: `${row.name} cannot be reached: ${errorMessage(err)}`,
      };
    }
  }

  forgetRoute(appId: string): void {
    this.routes.delete(appId);
  }
}
