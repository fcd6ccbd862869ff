import { Type } from '@sinclair/typebox';
import type { RestApp } from '../../core/http/app.js';
import type { StoreStatus } from '../apps/app-services.js';
import type { CloudSettings } from '../config.js';

export interface SettingsRouteDeps {
  settings: CloudSettings;
  docker: { available: boolean; message: string };
  /** The store index's state, when a store is configured. */
  store(): Promise<StoreStatus | undefined>;
}

const Settings = Type.Object({
  domain: Type.String(),
  console_url: Type.String(),
  docker: Type.Object({ available: Type.Boolean(), message: Type.String() }),
  store: Type.Object({
    configured: Type.Boolean(),
    serial: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  }),
  caps: Type.Object({ memory_bytes: Type.Number(), cpus: Type.Number(), pids: Type.Integer() }),
});

/** GET /api/v1/settings: what a signed-in user may know of this instance (no secret, no path). */
export function registerSettingsRoutes(app: RestApp, deps: SettingsRouteDeps): void {
  const { settings } = deps;
  app.get(
    '/api/v1/settings',
    { config: { access: {} }, schema: { response: { 200: Settings } } },
    async () => ({
      domain: settings.domain,
      console_url: settings.consoleOrigin,
      docker: deps.docker,
      store: (await deps.store()) ?? { configured: false, serial: null, error: null },
      caps: {
        memory_bytes: settings.caps.memoryBytes,
        cpus: settings.caps.cpus,
        pids: settings.caps.pids,
      },
    }),
  );
}
