import { Type } from '@sinclair/typebox';
import { WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';
import { keyId } from '../../core/release/keys.js';
import { APP_ID_PATTERN } from '../../core/release/manifest.js';
import { ReleaseError } from '../../core/release/types.js';
import { hasRelease, releasePermissions } from '../apps/app-view.js';
import type { Installer } from '../apps/installer.js';
import type { ReleaseFetcher } from '../apps/release-fetch.js';
import type { StoreIndexClient } from '../apps/store-index.js';
import type { SandboxCaps } from '../sandbox/types.js';

/*
 * The store as this instance sees it: the verified index (refreshed on every
 * request; an index refused as a rollback, expired, forked or badly signed
 * answers 502 with its code, and the last good one stays accepted), and one
 * release's permissions, from the release fetched through the peer and
 * validated here.
 */

export interface StoreRouteDeps {
  index: Pick<StoreIndexClient, 'refresh'>;
  installer: Pick<Installer, 'list'>;
  releases: Pick<ReleaseFetcher, 'fetch' | 'discard'>;
  /** The limits every container gets (shown as the release's resources). */
  caps: SandboxCaps;
}

const VERSION = Type.String({ minLength: 1, maxLength: 128, pattern: '^[0-9A-Za-z.+-]+$' });

const StoreApps = Type.Object({
  serial: Type.Integer(),
  expires_at: Type.String(),
  apps: Type.Array(
    Type.Object({
      id: Type.String(),
      official: Type.Boolean(),
      maintainer_key_id: Type.String(),
      versions: Type.Array(
        Type.Object({ version: Type.String(), sha256: Type.String(), yanked: Type.Boolean() }),
      ),
      installed_version: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});

const ReleaseView = Type.Object({
  manifest: Type.Object({
    id: Type.String(),
    name: Type.String(),
    version: Type.String(),
    description: Type.String(),
    maintainer: Type.String(),
  }),
  official: Type.Boolean(),
  permissions: Type.Object({
    services: Type.Array(Type.Object({ name: Type.String(), image: Type.String() })),
    volumes: Type.Array(Type.String()),
    main_service: Type.String(),
    port: Type.Integer(),
    resources: Type.Object({ memory_bytes: Type.Number(), cpus: Type.Number(), pids: Type.Integer() }),
  }),
});

export function registerStoreRoutes(app: RestApp, deps: StoreRouteDeps): void {
  app.get(
    '/api/v1/store/apps',
    {
      config: { access: {} },
      schema: {
        summary:
          "The store's apps from its signed index, verified here (502 with the refusal's code otherwise)",
        response: { 200: StoreApps },
      },
    },
    async () => {
      const { index } = await deps.index.refresh();
      const installed = new Map(
        (await deps.installer.list()).filter((r) => hasRelease(r)).map((r) => [r.id, r.version]),
      );
      return {
        serial: index.serial,
        expires_at: index.expires_at,
        apps: index.apps.map((a) => ({
          id: a.id,
          official: a.official,
          maintainer_key_id: keyId(Buffer.from(a.maintainer_key, 'base64')),
          versions: a.versions,
          installed_version: installed.get(a.id) ?? null,
        })),
      };
    },
  );

  app.get(
    '/api/v1/store/apps/:id/versions/:version',
    {
      config: { access: { admin: true } },
      schema: {
        summary:
          'One release: fetched through the peer, verified and validated here; what it asks for (admin)',
        params: Type.Object({ id: Type.String({ pattern: APP_ID_PATTERN }), version: VERSION }),
        response: { 200: ReleaseView },
      },
    },
    async (req) => {
      const { index } = await deps.index.refresh();
      let fetched: Awaited<ReturnType<StoreRouteDeps['releases']['fetch']>>;
      try {
        fetched = await deps.releases.fetch(index, req.params.id, req.params.version);
      } catch (err) {
        throw refusal(err);
      }
      try {
        const { manifest } = fetched.release;
        return {
          manifest: {
            id: manifest.id,
            name: manifest.name,
            version: manifest.version,
            description: manifest.description,
            maintainer: manifest.maintainer,
          },
          official: fetched.app.official,
          permissions: releasePermissions(fetched.release, deps.caps),
        };
      } finally {
        await deps.releases.discard(fetched);
      }
    },
  );
}

/** A release refused: not listed 404, yanked 409, any other check 422 with its code. */
function refusal(err: unknown): unknown {
  if (err instanceof ReleaseError && err.code === 'RELEASE_NOT_IN_INDEX') {
    return new WarrenError(err.code, err.message, 404);
  }
  if (err instanceof ReleaseError && err.code === 'RELEASE_YANKED') {
    return new WarrenError(err.code, err.message, 409);
  }
  return err;
}
