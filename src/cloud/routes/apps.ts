import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';
import { APP_ID_PATTERN, SERVICE_NAME_PATTERN } from '../../core/release/manifest.js';
import type { Actor } from '../apps/app-control.js';
import { appDetailJson, appJson, urlPathOf } from '../apps/app-view.js';
import type { Installer } from '../apps/installer.js';
import type { AccessUser } from '../auth/access.js';
import { appOrigin } from '../config.js';
import type { AppsTable } from '../db/schema.js';
import { principalOf } from '../http/access.js';
import type { AppSandbox } from '../sandbox/types.js';

/*
 * Installed apps: install (admin, 202: it runs in the background, progress
 * in state/state_detail), list and show (users see the apps they may open),
 * start/stop/restart and uninstall (admin), logs (admin; follow streams
 * until the client leaves).
 */

export interface AppsRouteDeps {
  installer: Pick<
    Installer,
    'install' | 'list' | 'status' | 'start' | 'stop' | 'restart' | 'uninstall' | 'get'
  >;
  access: {
    mayOpen(user: AccessUser, appId: string): Promise<boolean>;
    openableAppIds(user: AccessUser): Promise<'all' | string[]>;
  };
  sandbox: Pick<AppSandbox, 'logs'>;
  /** Apps live at `https://<app>.<domain>[:publicPort]`. */
  domain: string;
  publicPort?: number;
}

const AppId = Type.Object({ id: Type.String({ pattern: APP_ID_PATTERN }) });
const VERSION = Type.String({ minLength: 1, maxLength: 128, pattern: '^[0-9A-Za-z.+-]+$' });
const STATES = ['fetching', 'loading', 'creating', 'running', 'stopped', 'failed', 'removing'] as const;

const AppFields = {
  id: Type.String(),
  name: Type.String(),
  version: Type.String(),
  state: Type.Union(STATES.map((s) => Type.Literal(s))),
  state_detail: Type.String(),
  url: Type.String(),
  official: Type.Boolean(),
  access_mode: Type.Union([Type.Literal('all'), Type.Literal('chosen')]),
};
const AppJsonSchema = Type.Object(AppFields);
const AppDetailSchema = Type.Object({
  ...AppFields,
  health: Type.Union([Type.String(), Type.Null()]),
  services: Type.Array(
    Type.Object({
      name: Type.String(),
      state: Type.String(),
      health: Type.String(),
      exit_code: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
});
const AppAnswer = Type.Object({ app: AppJsonSchema });

export function registerAppsRoutes(app: RestApp, deps: AppsRouteDeps): void {
  const { installer, access } = deps;
  const urlOf = (row: Pick<AppsTable, 'id' | 'manifest'>) =>
    `${appOrigin({ domain: deps.domain, publicPort: deps.publicPort ?? 443 }, row.id)}${urlPathOf(row)}`;
  const view = (row: AppsTable) => appJson(row, urlOf(row));
  const actor = (req: FastifyRequest): Actor => ({ name: principalOf(req).name, address: req.ip });
  const user = (req: FastifyRequest): AccessUser => {
    const p = principalOf(req);
    return { id: p.userId, role: p.role };
  };

  app.get(
    '/api/v1/apps',
    {
      config: { access: {} },
      schema: {
        summary: 'Installed apps this user may open (every app for an admin)',
        response: { 200: Type.Object({ items: Type.Array(AppJsonSchema) }) },
      },
    },
    async (req) => {
      const openable = await access.openableAppIds(user(req));
      const rows = await installer.list();
      const visible = openable === 'all' ? rows : rows.filter((r) => openable.includes(r.id));
      return { items: visible.map(view) };
    },
  );

  app.post(
    '/api/v1/apps',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Install (or update to) an app version from the store; runs in the background (admin)',
        body: Type.Object(
          { app_id: Type.String({ pattern: APP_ID_PATTERN }), version: VERSION },
          { additionalProperties: false },
        ),
        response: { 202: AppAnswer },
      },
    },
    async (req, reply) => {
      const row = await installer.install(req.body.app_id, req.body.version, actor(req));
      return reply.status(202).send({ app: view(row) });
    },
  );

  app.get(
    '/api/v1/apps/:id',
    {
      config: { access: {} },
      schema: {
        summary: 'One app with its containers (a user sees only apps they may open)',
        params: AppId,
        response: { 200: Type.Object({ app: AppDetailSchema }) },
      },
    },
    async (req) => {
      const appId = req.params.id;
      // Someone without access learns nothing, not even that the app exists.
      if (!(await access.mayOpen(user(req), appId))) throw notFound(appId);
      const { row, status } = await installer.status(appId);
      return { app: appDetailJson(row, urlOf(row), status) };
    },
  );

  for (const kind of ['start', 'stop', 'restart'] as const) {
    app.post(
      `/api/v1/apps/:id/${kind}`,
      {
        config: { access: { admin: true } },
        schema: { summary: `${kind} the app (admin)`, params: AppId, response: { 200: AppAnswer } },
      },
      async (req) => ({ app: view(await installer[kind](req.params.id, actor(req))) }),
    );
  }

  app.delete(
    '/api/v1/apps/:id',
    {
      config: { access: { admin: true } },
      schema: {
        summary: 'Uninstall the app in the background; its data is kept unless keep_data=false (admin)',
        params: AppId,
        querystring: Type.Object(
          { keep_data: Type.Boolean({ default: true }) },
          { additionalProperties: false },
        ),
        response: { 202: AppAnswer },
      },
    },
    async (req, reply) => {
      const row = await installer.uninstall(req.params.id, req.query.keep_data, actor(req));
      return reply.status(202).send({ app: view(row) });
    },
  );

  app.get(
    '/api/v1/apps/:id/logs',
    {
      config: { access: { admin: true } },
      schema: {
        summary:
          "The app's logs as text: the last lines per service, or followed until the client leaves (admin)",
        params: AppId,
        querystring: Type.Object(
          {
            service: Type.Optional(Type.String({ pattern: SERVICE_NAME_PATTERN })),
            tail: Type.Integer({ minimum: 0, maximum: 10_000, default: 200 }),
            follow: Type.Boolean({ default: false }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const appId = req.params.id;
      if (!(await installer.get(appId))) throw notFound(appId);
      const { service, tail, follow } = req.query;
      const stream = await deps.sandbox.logs(appId, { ...(service ? { service } : {}), tail, follow });
      const headers = {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      };
      // The engine's log stream is closed with the response: a follow ends when the client leaves.
      reply.raw.once('close', () => stream.destroy());
      if (!follow) return reply.headers(headers).send(stream);
      // A follow may be silent for long: the headers go out at once, not with the first line.
      reply.hijack();
      reply.raw.writeHead(200, headers);
      reply.raw.flushHeaders();
      pipeline(stream, reply.raw).catch(() => reply.raw.destroy());
    },
  );
}

function notFound(appId: string): WarrenError {
  return new WarrenError('APP_NOT_FOUND', `no app '${appId}' is installed`, 404);
}
