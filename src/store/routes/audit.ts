import { AuditPage, AuditQuery } from '../../core/db/audit-log.js';
import type { StoreContext } from '../context.js';
import type { StoreApp } from '../http/app.js';

/** The audit log, newest first (admin). */
export async function auditRoutes(app: StoreApp, ctx: StoreContext): Promise<void> {
  app.get(
    '/api/v1/audit',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Audit log entries, newest first (admin)',
        querystring: AuditQuery('release.refused'),
        response: { 200: AuditPage },
      },
    },
    async (req) => ctx.audit.list(req.query),
  );
}
