import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/*
 * The contract between the gateway (gateway/, one HTTPS listener) and the
 * rest of the cloud: the console handler, the app sessions (auth/), and where
 * each app runs (sandbox/ + apps/).
 */

/** The cookie an app subdomain's session lives in (host-only: `__Host-` forbids Domain). */
export const APP_COOKIE = '__Host-warren-app';
/** The console's session cookie. */
export const CONSOLE_COOKIE = '__Host-warren-session';
/** The path on an app's subdomain where a handoff secret is redeemed. */
export const HANDOFF_PATH = '/.warren/handoff';

/** A signed-in user's access to one app, as an app session proves it. */
export interface AppVisitor {
  userId: string;
  userName: string;
}

/** App sessions (auth/app-sessions.ts implements it). */
export interface AppSessionGate {
  /**
   * Redeems a handoff secret for `appId`: single use, short-lived, bound to
   * the user, the console session and the app. Returns the new app session's
   * cookie value, or undefined when the secret is unknown, used, expired or
   * for another app.
   */
  redeemHandoff(
    appId: string,
    secret: string,
  ): Promise<{ cookieValue: string; maxAgeSeconds: number } | undefined>;
  /**
   * The visitor behind an app cookie, or undefined unless the app session
   * exists, is for this app, its console session is alive and the user may
   * still open the app. Fast path: an in-memory cache invalidated by
   * sign-out, revocation and access changes.
   */
  visitor(appId: string, cookieValue: string): Promise<AppVisitor | undefined>;
}

/** Where an app is, for the gateway. */
export type AppRoute =
  | { kind: 'running'; host: string; port: number; urlPath: string }
  /** Installed but not reachable: the gateway answers a clear page with this message. */
  | {
      kind: 'unavailable';
      status: 'stopped' | 'starting' | 'installing' | 'unhealthy' | 'failed';
      message: string;
    };

export interface GatewayRoutes {
  /** The console and its API (Fastify's handler) for requests to the console host. */
  console(req: IncomingMessage, res: ServerResponse): void;
  /** The app behind `<appId>.<domain>`, or undefined when no such app is installed. */
  app(appId: string): Promise<AppRoute | undefined>;
}

/** A WebSocket or other upgrade for an app, after the gateway checked the visitor. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
