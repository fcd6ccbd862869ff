import { Type } from '@sinclair/typebox';
import type { AuditLog } from '../../core/db/audit-log.js';
import { WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';
import { APP_ID_PATTERN } from '../../core/release/manifest.js';
import { type AppAccess, appNotFound, MAX_GRANTS } from '../auth/access.js';
import type { AppSessions } from '../auth/app-sessions.js';
import { appOrigin } from '../config.js';
import type { CloudDatabase } from '../db/schema.js';
import { HANDOFF_PATH } from '../gateway/types.js';
import { principalOf } from '../http/access.js';

export interface AccessRouteDeps {
  access: AppAccess;
  appSessions: AppSessions;
  audit: AuditLog<CloudDatabase>;
  /** Apps live at `https://<app>.<domain>[:publicPort]`. */
  domain: string;
  /** The HTTPS port browsers use (default 443: no port in URLs). */
  publicPort?: number;
}

const AppId = Type.Object({ id: Type.String({ pattern: APP_ID_PATTERN }) });
const Mode = Type.Union([Type.Literal('all'), Type.Literal('chosen')]);
const AccessJson = Type.Object({
  mode: Mode,
  users: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
});

/** Who may open each app (admin), and the handoff that opens one (any user with access). */
export function registerAccessRoutes(app: RestApp, deps: AccessRouteDeps): void {
  const { access, appSessions, audit } = deps;

  app.get(
    '/api/v1/apps/:id/access',
    {
      config: { access: { admin: true } },
      schema: { summary: 'Who may open the app (admin)', params: AppId, response: { 200: AccessJson } },
    },
    async (req) => access.get(req.params.id),
  );

  app.put(
    '/api/v1/apps/:id/access',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Open the app to all users or to chosen ones (admin); admins always may',
        params: AppId,
        body: Type.Object(
          {
            mode: Mode,
            user_ids: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: MAX_GRANTS }),
          },
          { additionalProperties: false },
        ),
        response: { 200: AccessJson },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const view = await access.set(req.params.id, req.body.mode, req.body.user_ids);
      await audit.record({
        actor: p.name,
        action: 'app.access',
        target: `app:${req.params.id}`,
        address: req.ip,
        detail: { mode: view.mode, users: view.users.map((u) => u.name) },
      });
      return view;
    },
  );

  app.post(
    '/api/v1/apps/:id/handoff',
    {
      config: { access: {} },
      schema: {
        summary: "Open an app: a one-time link (60 s) that signs the browser in on the app's subdomain",
        params: AppId,
        response: { 200: Type.Object({ url: Type.String() }) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const appId = req.params.id;
      if (!(await access.exists(appId))) throw appNotFound(appId);
      if (!(await access.mayOpen({ id: p.userId, role: p.role }, appId))) {
        throw new WarrenError('APP_FORBIDDEN', `you may not open '${appId}'; ask an admin for access`, 403);
      }
      const secret = appSessions.createHandoff(p, appId);
      const origin = appOrigin({ domain: deps.domain, publicPort: deps.publicPort ?? 443 }, appId);
      return { url: `${origin}${HANDOFF_PATH}?secret=${secret}` };
    },
  );
}
