import { cookieValue } from '../../core/http/cookies.js';
import type { Logger } from '../../core/log.js';
import type { RequestFacts } from './headers.js';
import { httpsUrl } from './hosts.js';
import { crossOriginRefusal } from './site-isolation.js';
import {
  APP_COOKIE,
  type AppRoute,
  type AppSessionGate,
  type AppVisitor,
  type GatewayRoutes,
} from './types.js';

/** An app cookie's value as the gateway accepts it (anything else is no session). */
export const COOKIE_VALUE = /^[A-Za-z0-9._~+/=-]{1,512}$/;

/** Why the gateway does not pass a request to an app, and how to say so. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  /** Set when a browser should get a page (404, 503) rather than JSON. */
  title?: string;
  retryAfter?: number;
}

export type Admitted = { visitor: AppVisitor; route: AppRoute & { kind: 'running' } } | { refusal: Refusal };

/**
 * What every request to an app must pass, plain or upgrade, in this order:
 * not from another app or site (site-isolation.ts), a valid app session
 * (before the app lookup, so no one without one learns which apps exist),
 * an installed app that runs. The gateway answers a refusal its own way
 * (a page, JSON, or a response written on an upgrade's socket).
 */
export class AppAdmission {
  constructor(
    private readonly domain: string,
    private readonly routes: GatewayRoutes,
    private readonly gate: AppSessionGate,
    private readonly log: Logger,
  ) {}

  async admit(
    method: string,
    facts: RequestFacts,
    appId: string,
    port: string | undefined,
  ): Promise<Admitted> {
    const appOrigin = httpsUrl(`${appId}.${this.domain}`, port, '/').slice(0, -1);
    const site = { method, fetchSite: facts.fetchSite, fetchMode: facts.fetchMode, origin: facts.origin };
    const crossOrigin = crossOriginRefusal(site, appOrigin);
    if (crossOrigin) {
      this.log.info({ event: 'gateway_cross_origin_refused', app: appId, why: crossOrigin });
      const message = `${appId} refused ${crossOrigin}`;
      return { refusal: { status: 403, code: 'CROSS_ORIGIN_REFUSED', message } };
    }
    const visitor = await this.visitor(facts, appId);
    if (!visitor) {
      const message = `open app ${appId} from the console to sign in to it`;
      return { refusal: { status: 401, code: 'APP_SESSION_REQUIRED', message } };
    }
    const route = await this.routes.app(appId);
    if (!route) {
      const message = `There is no app ${appId} here.`;
      return { refusal: { status: 404, code: 'APP_NOT_FOUND', message, title: 'No such app' } };
    }
    if (route.kind === 'unavailable') {
      const retryAfter = route.status === 'starting' || route.status === 'installing' ? 5 : 30;
      const title = `App ${appId} is ${route.status}`;
      return { refusal: { status: 503, code: 'APP_UNAVAILABLE', message: route.message, title, retryAfter } };
    }
    return { visitor, route };
  }

  /** The app session behind the request's app cookie, if it is valid for this app. */
  private async visitor(facts: RequestFacts, appId: string): Promise<AppVisitor | undefined> {
    const value = cookieValue(facts.cookie, APP_COOKIE);
    if (!value || !COOKIE_VALUE.test(value)) return undefined;
    return this.gate.visitor(appId, value);
  }
}
