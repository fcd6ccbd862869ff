import type { Kysely } from 'kysely';
import { nowIso } from '../../core/db/database.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { InstalledRelease } from '../../core/release/fetched.js';
import type { StoreIndex } from '../../core/release/store-index.js';
import type { AppsTable, CloudDatabase } from '../db/schema.js';
import type { AppSandbox } from '../sandbox/types.js';
import { hasRelease, parseImages, serviceImages } from './app-view.js';
import type { AppImages } from './images.js';
import type { KeptData } from './kept-data.js';
import type { FetchedRelease, ReleaseFetcher } from './release-fetch.js';

/*
 * The install state machine, one step at a time, each step's result written
 * to the app's row before the next begins, so that a cloud killed anywhere
 * resumes from the step it was in (reconcile.ts):
 *   fetching  release through the peer, verified; kept under <data>/releases
 *   loading   each service's image through the peer mirror into Docker; ids recorded
 *   creating  network, volumes, containers; started
 *   running
 */

export type InstallStep = 'fetching' | 'loading' | 'creating';

/** Test crash points: a hook that throws stops the installer there, as if the process died. */
export interface InstallHooks {
  afterStep?(appId: string, step: 'fetched' | 'loaded' | 'created'): void | Promise<void>;
}

/** The installer stopped at a crash point: nothing more is written, as after a kill. */
export class InstallerHalted extends Error {
  constructor(cause: unknown) {
    super(`installer halted: ${errorMessage(cause)}`);
    this.name = 'InstallerHalted';
  }
}

export interface StepContext {
  db: Kysely<CloudDatabase>;
  sandbox: AppSandbox;
  releases: ReleaseFetcher;
  images: AppImages;
  kept: KeptData;
  hooks?: InstallHooks;
}

export interface InstallJob {
  appId: string;
  from: InstallStep;
  /** An update replaces the running version's containers (its data stays). */
  replace: boolean;
  /** What the update starts from (restored if the update is refused before any container changed). */
  previous?: AppsTable;
}

export async function readRow(db: Kysely<CloudDatabase>, appId: string): Promise<AppsTable | undefined> {
  return db.selectFrom('apps').selectAll().where('id', '=', appId).executeTakeFirst();
}

export async function updateRow(
  db: Kysely<CloudDatabase>,
  appId: string,
  values: Partial<Omit<AppsTable, 'id'>>,
): Promise<void> {
  await db
    .updateTable('apps')
    .set({ ...values, updated_at: nowIso() })
    .where('id', '=', appId)
    .execute();
}

/** What the row says is installed (the key and version an update is checked against). */
export function installedOf(row: AppsTable): InstalledRelease | undefined {
  return row.maintainer_key ? { version: row.version, maintainerKey: row.maintainer_key } : undefined;
}

/**
 * The row's release, verified again from scratch: the kept copy if there is
 * one, else fetched through the peer again. Its digest must be the one the
 * row recorded (the store may not swap the bytes of a version).
 */
export async function verifiedRelease(
  ctx: StepContext,
  row: AppsTable,
  index: StoreIndex,
  signal?: AbortSignal,
): Promise<FetchedRelease> {
  const installed = installedOf(row);
  const kept = await ctx.releases.kept(index, row.id, row.version, row.sha256, installed);
  if (kept) return kept;
  const fetched = await ctx.releases.fetch(index, row.id, row.version, installed, signal);
  if (row.sha256 && fetched.release.sha256 !== row.sha256) {
    await ctx.releases.discard(fetched);
    throw new WarrenError(
      'RELEASE_CHANGED',
      `${row.id} ${row.version} is now listed with SHA-256 ${fetched.release.sha256}, but ${row.sha256} was installed: a version's bytes may not change`,
      502,
    );
  }
  return ctx.releases.keep(fetched);
}

/**
 * Every service's image in the engine: an id recorded and still present is
 * reused, anything else is pulled through the peer mirror; each id is
 * written to the row as soon as it is loaded.
 */
export async function ensureImages(
  ctx: StepContext,
  appId: string,
  compose: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<Record<string, string>> {
  const row = await readRow(ctx.db, appId);
  const images = parseImages(row?.images ?? '{}');
  const wanted = serviceImages(compose);
  const loaded: Record<string, string> = {};
  // The same reference in two services is loaded once.
  const byReference = new Map<string, string>();
  for (const [i, { name, image }] of wanted.entries()) {
    const recorded = images[name];
    if (recorded && (await ctx.images.has(recorded))) {
      loaded[name] = recorded;
      continue;
    }
    let id = byReference.get(image);
    if (!id) {
      await updateRow(ctx.db, appId, {
        state_detail: `loading image ${image} through the peer (${i + 1} of ${wanted.length})`,
      });
      id = await ctx.images.load(image, signal);
      byReference.set(image, id);
    }
    loaded[name] = id;
    await updateRow(ctx.db, appId, { images: JSON.stringify({ ...images, ...loaded }) });
  }
  return loaded;
}

async function crashPoint(ctx: StepContext, appId: string, step: 'fetched' | 'loaded' | 'created') {
  if (!ctx.hooks?.afterStep) return;
  try {
    await ctx.hooks.afterStep(appId, step);
  } catch (err) {
    throw new InstallerHalted(err);
  }
}

/** Progress of one run, so a failure names the step it happened in. */
export interface StepProgress {
  step: InstallStep;
}

/**
 * Runs `job` from its step to running. Throws on failure with
 * `progress.step` naming the step; the caller records it.
 */
export async function runInstall(
  ctx: StepContext,
  job: InstallJob,
  index: StoreIndex,
  progress: StepProgress,
  signal?: AbortSignal,
): Promise<void> {
  const appId = job.appId;
  let row = await readRow(ctx.db, appId);
  if (!row) throw new WarrenError('APP_NOT_FOUND', `app ${appId} was removed during its install`, 404);
  let fetched: FetchedRelease | undefined;
  progress.step = job.from;
  if (job.from === 'fetching') {
    await updateRow(ctx.db, appId, {
      state: 'fetching',
      state_detail: 'fetching the release through the peer',
    });
    // An update is checked against what runs; a first install against the key the index named at request time.
    const installed = installedOf(job.previous ?? row);
    fetched = await ctx.releases.fetch(index, appId, row.version, installed, signal);
    fetched = await ctx.releases.keep(fetched);
    const { release, app } = fetched;
    const sameRelease = row.sha256 === release.sha256 && hasRelease(row);
    await updateRow(ctx.db, appId, {
      name: release.manifest.name,
      sha256: release.sha256,
      maintainer_key: app.maintainer_key,
      official: app.official ? 1 : 0,
      manifest: JSON.stringify(release.manifest),
      compose_yaml: release.composeYaml,
      ...(sameRelease ? {} : { images: '{}' }),
      state: 'loading',
      state_detail: 'loading images through the peer',
    });
    await crashPoint(ctx, appId, 'fetched');
    progress.step = 'loading';
    row = (await readRow(ctx.db, appId))!;
  }
  fetched ??= await verifiedRelease(ctx, row, index, signal);
  if (progress.step === 'loading') {
    await ensureImages(ctx, appId, fetched.release.compose, signal);
    await updateRow(ctx.db, appId, { state: 'creating', state_detail: 'creating the sandbox' });
    await crashPoint(ctx, appId, 'loaded');
    progress.step = 'creating';
  }
  // Also when resumed at 'creating': images the engine lost are loaded again.
  const images = await ensureImages(ctx, appId, fetched.release.compose, signal);
  await updateRow(ctx.db, appId, { state_detail: 'creating the sandbox' });
  if (job.replace) await ctx.sandbox.remove(appId, { keepData: true });
  await ctx.sandbox.create({ release: fetched.release, images });
  await crashPoint(ctx, appId, 'created');
  await ctx.sandbox.start(appId);
  await updateRow(ctx.db, appId, { state: 'running', state_detail: '' });
  await ctx.kept.delete(appId);
  if (job.replace && job.previous && job.previous.sha256 !== fetched.release.sha256) {
    await ctx.releases.forget(job.previous.sha256);
  }
}
