import { parse } from 'yaml';
import type { AuditLog } from '../../core/db/audit-log.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { AppsTable, CloudDatabase } from '../db/schema.js';
import type { AppSandbox, ManagedObjects } from '../sandbox/types.js';
import { INSTALLING } from './app-control.js';
import { failureDetail, serviceImages } from './app-view.js';
import { updateRow } from './install-steps.js';
import type { Installer } from './installer.js';

/*
 * At cloud start, the engine is made to match the database (issue 6: a
 * crash between steps leaves nothing half-made that is not repaired or
 * reported):
 * - an app left in fetching/loading/creating (the cloud was killed mid
 *   install) resumes from its step: the release verified again (the kept
 *   copy, or through the peer), images already loaded reused by id; if that
 *   fails, the app is marked failed with the step and the error;
 * - an app left in 'removing' is removed;
 * - an app that should run (or be stopped) but whose containers are missing
 *   is created again; one that should run but is stopped is started;
 * - containers, networks and volumes carrying this instance's label but no
 *   apps row are removed and reported, except the volumes of an app
 *   uninstalled with "keep data".
 */

export interface ReconcileReport {
  repaired: Array<{ app_id: string; action: string }>;
  removed: Array<{
    app_id: string;
    containers: string[];
    networks: string[];
    volumes: string[];
    kept_volumes: string[];
  }>;
  failed: Array<{ app_id: string; state: string; detail: string }>;
}

export interface ReconcileOptions {
  installer: Installer;
  sandbox: AppSandbox;
  audit: AuditLog<CloudDatabase>;
  log: Logger;
}

export async function reconcileApps(o: ReconcileOptions): Promise<ReconcileReport> {
  const report: ReconcileReport = { repaired: [], removed: [], failed: [] };
  const managed = await o.sandbox.listManaged();
  const rows = await o.installer.list();
  for (const row of rows) {
    try {
      const action = await repair(o, row, managed);
      if (action) {
        report.repaired.push({ app_id: row.id, action });
        await record(o, 'app.reconcile.repaired', row.id, { action });
      }
    } catch (err) {
      const detail = failureDetail('reconcile', err);
      await updateRow(o.installer.db, row.id, { state: 'failed', state_detail: detail }).catch(() => {});
      report.failed.push({ app_id: row.id, state: 'failed', detail });
    }
    const after = await o.installer.get(row.id);
    if (row.state !== 'failed' && after?.state === 'failed') {
      if (!report.failed.some((f) => f.app_id === row.id)) {
        report.failed.push({ app_id: row.id, state: after.state, detail: after.state_detail });
      }
      await record(o, 'app.reconcile.failed', row.id, { from: row.state, detail: after.state_detail });
    }
  }
  const known = new Set(rows.map((r) => r.id));
  const orphans = new Set(
    [...managed.containers.keys(), ...managed.networks.keys(), ...managed.volumes.keys()].filter(
      (id) => !known.has(id),
    ),
  );
  for (const appId of orphans) {
    const keep = o.installer.kept.has(appId);
    const volumes = managed.volumes.get(appId) ?? [];
    const entry = {
      app_id: appId,
      containers: (managed.containers.get(appId) ?? []).map((c) => c.id),
      networks: managed.networks.get(appId) ?? [],
      volumes: keep ? [] : volumes,
      kept_volumes: keep ? volumes : [],
    };
    // Only volumes kept on purpose and nothing else: nothing to remove.
    if (keep && entry.containers.length === 0 && entry.networks.length === 0) continue;
    try {
      await o.sandbox.remove(appId, { keepData: keep });
      report.removed.push(entry);
      o.log.warn(entry, 'removed objects of an app this instance does not know');
      await record(o, 'app.reconcile.orphan_removed', appId, { ...entry });
    } catch (err) {
      report.failed.push({ app_id: appId, state: 'orphan', detail: failureDetail('removing orphans', err) });
    }
  }
  o.log.info(
    { repaired: report.repaired.length, removed: report.removed.length, failed: report.failed.length },
    'apps reconciled',
  );
  return report;
}

/** What was done to bring one app back in line, or undefined when it already was. */
async function repair(
  o: ReconcileOptions,
  row: AppsTable,
  managed: ManagedObjects,
): Promise<string | undefined> {
  const containers = managed.containers.get(row.id) ?? [];
  if (INSTALLING.has(row.state)) {
    // Containers of another version: the cloud died during an update, which replaces them.
    const replace = containers.some((c) => c.version !== row.version);
    const ok = await o.installer.resume(row, replace);
    return ok ? `resumed its install from '${row.state}': running` : undefined;
  }
  if (row.state === 'removing') {
    return (await o.installer.remove(row)) ? 'finished its removal' : undefined;
  }
  if (row.state !== 'running' && row.state !== 'stopped') return undefined;
  const expected = expectedServices(row);
  const missing = expected.filter(
    (s) => !containers.some((c) => c.service === s && c.version === row.version),
  );
  if (missing.length > 0) {
    await o.installer.recreate(row, row.state === 'running');
    return `containers of ${missing.join(', ')} were missing: created again${row.state === 'running' ? ' and started' : ''}`;
  }
  if (row.state === 'running' && containers.some((c) => c.state !== 'running' && c.state !== 'restarting')) {
    await o.sandbox.start(row.id);
    o.installer.control.forgetRoute(row.id);
    return 'should run but was stopped: started';
  }
  return undefined;
}

function expectedServices(row: AppsTable): string[] {
  try {
    return serviceImages(parse(row.compose_yaml) as Record<string, unknown>).map((s) => s.name);
  } catch (err) {
    throw new Error(`the recorded docker-compose.yml cannot be read: ${errorMessage(err)}`);
  }
}

async function record(o: ReconcileOptions, action: string, appId: string, detail: Record<string, unknown>) {
  await o.audit.recordQuietly({ actor: 'system', action, target: `app:${appId}`, address: '', detail });
}
