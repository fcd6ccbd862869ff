import { AuditPage, AuditQuery } from '../../core/db/audit-log.js';
import type { ManagerContext } from '../context.js';
import type { ManagerApp } from '../http/app.js';

/** The audit log: every mutating action, who did it, when, from where. Root only. */
export async function auditRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.get(
    '/api/v1/audit',
    {
      config: { access: { scope: 'read', root: true } },
      schema: {
        summary: 'Audit log entries, newest first (root only)',
        querystring: AuditQuery('job.create'),
        response: { 200: AuditPage },
      },
    },
    async (req) => ctx.audit.list(req.query),
  );
}
