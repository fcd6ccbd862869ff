import { Type } from '@sinclair/typebox';
import type { AuditLog } from '../../core/db/audit-log.js';
import type { RestApp } from '../../core/http/app.js';
import type { Sessions } from '../auth/sessions.js';
import type { CloudDatabase } from '../db/schema.js';
import { principalOf } from '../http/access.js';

export interface SessionRouteDeps {
  sessions: Sessions;
  audit: AuditLog<CloudDatabase>;
}

const SessionJson = Type.Object({
  id_prefix: Type.String(),
  created_at: Type.String(),
  last_seen_at: Type.String(),
  expires_at: Type.String(),
  address: Type.String(),
  user_agent: Type.String(),
  current: Type.Boolean(),
});

/** One's own console sessions: list and revoke. */
export function registerSessionRoutes(app: RestApp, deps: SessionRouteDeps): void {
  const { sessions, audit } = deps;

  app.get(
    '/api/v1/sessions',
    {
      config: { access: {} },
      schema: {
        summary: "One's signed-in sessions, newest first",
        response: { 200: Type.Object({ items: Type.Array(SessionJson) }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return { items: await sessions.list(p.userId, p.sessionId) };
    },
  );

  app.delete(
    '/api/v1/sessions/:id_prefix',
    {
      config: { access: {} },
      schema: {
        summary: 'End one of your sessions (and the app sessions made from it)',
        params: Type.Object({ id_prefix: Type.String({ pattern: '^[0-9a-f]{16}$' }) }),
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      await sessions.revoke(p.userId, req.params.id_prefix);
      await audit.record({
        actor: p.name,
        action: 'session.revoke',
        target: `session:ses_${req.params.id_prefix}`,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
}
