import type { StoreContext } from '../context.js';
import type { StoreApp } from '../http/app.js';
import { appRoutes } from './apps.js';
import { auditRoutes } from './audit.js';
import { authRoutes } from './auth.js';
import { maintainerRoutes } from './maintainers.js';
import { publicRoutes } from './public.js';
import { releaseRoutes } from './releases.js';

/** Every REST route module of the store. */
export async function registerStoreRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  await publicRoutes(app, ctx);
  await appRoutes(app, ctx);
  await authRoutes(app, ctx);
  await maintainerRoutes(app, ctx);
  await releaseRoutes(app, ctx);
  await auditRoutes(app, ctx);
}
