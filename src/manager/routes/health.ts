import { Type } from '@sinclair/typebox';
import type { ManagerContext } from '../context.js';
import type { ManagerApp } from '../http/app.js';

/** Deliberately public: liveness of the API and of its database, nothing more. */
export async function healthRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.get(
    '/api/v1/health',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'API and database health',
        response: { 200: Type.Object({ status: Type.String(), database: Type.String() }) },
      },
    },
    async () => {
      const database = await ctx.database.ping().then(
        () => 'up',
        () => 'down',
      );
      return { status: 'ok', database };
    },
  );
}
