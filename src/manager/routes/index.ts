import type { ManagerContext } from '../context.js';
import type { ManagerApp } from '../http/app.js';
import { auditRoutes } from './audit.js';
import { authRoutes } from './auth.js';
import { blocklistRoutes } from './blocklist.js';
import { caRoutes } from './ca.js';
import { certificateRoutes } from './certificates.js';
import { clusterRoutes } from './clusters.js';
import { healthRoutes } from './health.js';
import { jobRoutes } from './jobs.js';
import { tokenRoutes } from './tokens.js';
import { userRoutes } from './users.js';

/** Every REST route module, registered under /api/v1. */
export async function registerRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  await healthRoutes(app, ctx);
  await authRoutes(app, ctx);
  await userRoutes(app, ctx);
  await tokenRoutes(app, ctx);
  await caRoutes(app, ctx);
  await certificateRoutes(app, ctx);
  await clusterRoutes(app, ctx);
  await jobRoutes(app, ctx);
  await blocklistRoutes(app, ctx);
  await auditRoutes(app, ctx);
}
