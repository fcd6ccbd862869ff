import { type AuditLog, AuditPage, AuditQuery } from '../../core/db/audit-log.js';
import type { RestApp } from '../../core/http/app.js';
import type { CloudDatabase } from '../db/schema.js';

export interface AuditRouteDeps {
  audit: AuditLog<CloudDatabase>;
}

/** The audit log, newest first (admin). */
export function registerAuditRoutes(app: RestApp, deps: AuditRouteDeps): void {
  app.get(
    '/api/v1/audit',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Audit log entries, newest first (admin)',
        querystring: AuditQuery('user.role'),
        response: { 200: AuditPage },
      },
    },
    async (req) => deps.audit.list(req.query),
  );
}
