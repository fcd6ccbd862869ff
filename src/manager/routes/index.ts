import type { ManagerContext } from '../context.js';
import type { ManagerApp } from '../http/app.js';
import { healthRoutes } from './health.js';

/** Every REST route module, registered under /api/v1. */
export async function registerRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  await healthRoutes(app, ctx);
}
