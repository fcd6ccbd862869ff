import type { Kysely } from 'kysely';
import { isUniqueViolation, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { checkUpdate } from '../../core/release/fetched.js';
import type { StoreIndex } from '../../core/release/store-index.js';
import { ReleaseError } from '../../core/release/types.js';
import type { AppsTable, CloudDatabase } from '../db/schema.js';
import { busyError, INSTALLING } from './app-control.js';
import { hasRelease } from './app-view.js';
import { type InstallJob, installedOf, readRow, updateRow } from './install-steps.js';
import { listedRelease } from './release-fetch.js';

/**
 * The synchronous part of an install request, once the index was refreshed:
 * every refusal the index already shows (not listed 404, yanked, another
 * maintainer key, a downgrade, already installed: 409), then the row written
 * in state 'fetching' (inserted for a first install; for an update the
 * running version's release stays recorded until the new one is verified).
 */
export async function prepareInstall(
  db: Kysely<CloudDatabase>,
  index: StoreIndex,
  appId: string,
  version: string,
  accessMode: 'all' | 'chosen',
) {
  const listed = httpRefusal(() => listedRelease(index, appId, version));
  const row = await readRow(db, appId);
  let job: InstallJob = { appId, from: 'fetching', replace: false };
  const fromIndex = {
    sha256: listed.version.sha256,
    maintainer_key: listed.app.maintainer_key,
    official: listed.app.official ? 1 : 0,
  };
  if (!row) {
    const now = nowIso();
    try {
      await db
        .insertInto('apps')
        .values({
          id: appId,
          name: appId,
          version,
          ...fromIndex,
          state: 'fetching',
          state_detail: 'queued',
          access_mode: accessMode,
          manifest: '{}',
          compose_yaml: '',
          images: '{}',
          installed_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw busyError(appId, 'being installed');
      throw err;
    }
  } else if (INSTALLING.has(row.state) || row.state === 'removing') {
    throw busyError(appId, row.state);
  } else if (hasRelease(row)) {
    if (row.version === version && row.state !== 'failed') {
      throw new WarrenError('APP_INSTALLED', `${appId} ${version} is already installed`, 409);
    }
    const installed = installedOf(row);
    const candidate = { appId, version, maintainerKey: listed.app.maintainer_key };
    // A failed app may go to any version of the same maintainer; a working one only forward.
    const against = row.state === 'failed' && installed ? { ...installed, version: '0.0.0' } : installed;
    httpRefusal(() => checkUpdate(against, candidate));
    job = { appId, from: 'fetching', replace: true, ...(row.state === 'failed' ? {} : { previous: row }) };
    await updateRow(db, appId, { version, state: 'fetching', state_detail: 'queued' });
  } else {
    // A first install that failed before its release was verified: start over.
    await updateRow(db, appId, { version, ...fromIndex, state: 'fetching', state_detail: 'queued' });
  }
  return { job, listed, row: row as AppsTable | undefined };
}

/** A release refusal known before any download: not found 404, others 409, with the refusal's code. */
function httpRefusal<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ReleaseError) {
      throw new WarrenError(err.code, err.message, err.code === 'RELEASE_NOT_IN_INDEX' ? 404 : 409);
    }
    throw err;
  }
}
