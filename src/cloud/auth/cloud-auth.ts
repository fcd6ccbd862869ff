import type { Kysely } from 'kysely';
import { AuditLog } from '../../core/db/audit-log.js';
import type { Dialect } from '../../core/db/database.js';
import type { RestApp } from '../../core/http/app.js';
import type { Logger } from '../../core/log.js';
import type { CloudDatabase } from '../db/schema.js';
import { registerAccessRoutes } from '../routes/access.js';
import { registerAuditRoutes } from '../routes/audit.js';
import { registerAuthRoutes } from '../routes/auth.js';
import { registerSessionRoutes } from '../routes/sessions.js';
import { registerUserRoutes } from '../routes/users.js';
import { AppAccess } from './access.js';
import { type AppSessionSettings, AppSessions } from './app-sessions.js';
import { AuthEvents } from './events.js';
import { Invitations } from './invitations.js';
import { LoginLimits } from './login-limits.js';
import { type SessionSettings, Sessions } from './sessions.js';
import { Users } from './users.js';

/** The settings of users and sessions (CloudSettings has them all). */
export interface CloudAuthSettings extends SessionSettings, AppSessionSettings {
  invitationTtlMs?: number;
  loginAttemptsPerMinute: number;
  loginAttemptsPerAddress: number;
  totpIssuer?: string;
}

/** Users, sessions, invitations, per-app access and app sessions, wired to one event hub. */
export interface CloudAuth {
  events: AuthEvents;
  limits: LoginLimits;
  sessions: Sessions;
  users: Users;
  invitations: Invitations;
  access: AppAccess;
  appSessions: AppSessions;
  audit: AuditLog<CloudDatabase>;
}

/** Builds the sign-in services over `db`; `instanceSecret` from auth/instance-secret.ts. */
export function createCloudAuth(
  components: {
    db: Kysely<CloudDatabase>;
    dialect: Dialect;
    log: Logger;
    instanceSecret: Uint8Array;
    /** The clock (tests move it); Date.now by default. */
    now?: () => number;
    audit?: AuditLog<CloudDatabase>;
  },
  settings: CloudAuthSettings,
): CloudAuth {
  const { db, dialect, now } = components;
  const events = new AuthEvents();
  const limits = new LoginLimits(settings, now);
  const sessions = new Sessions({ db, events, instanceSecret: components.instanceSecret, now }, settings);
  const users = new Users({ db, dialect, sessions, events, limits, now }, settings);
  const invitations = new Invitations({ db, users, limits, now }, settings);
  const access = new AppAccess({ db, events });
  const appSessions = new AppSessions({ db, sessions, access, events, now }, settings);
  const audit = components.audit ?? new AuditLog<CloudDatabase>(db, components.log);
  return { events, limits, sessions, users, invitations, access, appSessions, audit };
}

/** Registers the routes of routes/{auth,users,sessions,access,audit}.ts. */
export function registerCloudAuthRoutes(
  app: RestApp,
  auth: CloudAuth,
  settings: { consoleOrigin: string; domain: string; publicPort?: number },
): void {
  registerAuthRoutes(app, auth);
  registerUserRoutes(app, { ...auth, consoleOrigin: settings.consoleOrigin });
  registerSessionRoutes(app, auth);
  registerAccessRoutes(app, { ...auth, domain: settings.domain, publicPort: settings.publicPort });
  registerAuditRoutes(app, auth);
}
