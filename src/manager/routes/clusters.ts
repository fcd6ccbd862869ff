import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseDown } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { decodeCursor, Page, PageQuery, toPage } from '../../core/http/pagination.js';
import {
  type ClusterConfig,
  ClusterConfigSchema,
  ClusterScopesSchema,
  checkClusterConfig,
  checkClusterScopes,
} from '../clusters/cluster-config.js';
import { type Cluster, ClusterStore } from '../clusters/cluster-store.js';
import type { ComponentView } from '../clusters/state.js';
import type { ManagerContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

const Name = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$',
  description: 'unique cluster name',
});
const Description = Type.String({ maxLength: 1000 });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const ScopesJson = Type.Object({
  cidrs: Type.Array(Type.String()),
  hostnames: Type.Array(Type.String()),
  idcs: Type.Array(Type.String()),
  locations: Type.Array(Type.String()),
});
const ClusterJson = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  config: ClusterConfigSchema,
  scopes: ScopesJson,
  is_default: Type.Boolean(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
const ComponentJson = Type.Object({
  id: Type.String({ description: 'certificate name' }),
  role: Type.Union([Type.Literal('scheduler'), Type.Literal('seed')]),
  cluster_id: Type.String(),
  hostname: Type.String(),
  ip: Type.String(),
  port: Type.Integer(),
  idc: Type.String(),
  location: Type.String(),
  registered_at: Type.String(),
  last_seen_at: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('inactive')]),
});

/** The header on answers served from the in-memory copy while the database is down. */
export const STALE_HEADER = 'warren-cache';

/**
 * Clusters (a scheduler cluster with its seed peers): configuration handed
 * to components on Sync, locality rules that place peers, and the registry
 * of schedulers and seed peers. Reads fall back to the manager's in-memory
 * copy while the database is down (threat 3); writes then answer 503.
 */
export async function clusterRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  const store = new ClusterStore(ctx.db);
  const state = ctx.clusters;

  /** Runs `fromDb`, or answers from the copy (marked stale) when the database is down. */
  async function read<T>(reply: FastifyReply, fromDb: () => Promise<T>, fromCache: () => T): Promise<T> {
    if (state.databaseUp) {
      try {
        return await fromDb();
      } catch (err) {
        if (!isDatabaseDown(err)) throw err;
        state.markDown();
      }
    }
    reply.header(STALE_HEADER, 'stale');
    return fromCache();
  }

  const audit = (req: FastifyRequest, action: string, target: string, detail?: Record<string, unknown>) =>
    ctx.audit.record({ actor: principalOf(req).userName, action, target, address: req.ip, detail });

  app.get(
    '/api/v1/clusters',
    {
      config: { access: { scope: 'read' } },
      schema: { summary: 'List clusters', querystring: PageQuery, response: { 200: Page(ClusterJson) } },
    },
    async (req, reply) => {
      const { limit, cursor } = req.query;
      const after = decodeCursor(cursor);
      const rows = await read(
        reply,
        () => store.page(limit, after),
        () =>
          state
            .allClusters()
            .filter((c) => !after || c.name > after.sortKey || (c.name === after.sortKey && c.id > after.id))
            .sort((a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1))
            .slice(0, limit + 1),
      );
      return toPage(rows, limit, (c) => [c.name, c.id], clusterJson);
    },
  );

  app.post(
    '/api/v1/clusters',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Create a cluster',
        body: Type.Object(
          {
            name: Name,
            description: Type.Optional(Description),
            config: Type.Optional(ClusterConfigSchema),
            scopes: Type.Optional(ClusterScopesSchema),
          },
          { additionalProperties: false },
        ),
        response: { 201: ClusterJson },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const cluster = await store.create({
        name: body.name,
        description: body.description ?? '',
        config: checkClusterConfig(body.config ?? {}),
        scopes: checkClusterScopes(body.scopes ?? {}),
      });
      await audit(req, 'cluster.create', cluster.id, { name: cluster.name });
      await state.reload();
      reply.status(201);
      return clusterJson(cluster);
    },
  );

  app.get(
    '/api/v1/clusters/:id',
    {
      config: { access: { scope: 'read' } },
      schema: { summary: 'Get a cluster', params: IdParams, response: { 200: ClusterJson } },
    },
    async (req, reply) => {
      const { id } = req.params;
      const cluster = await read(
        reply,
        () => store.get(id),
        () => state.cluster(id),
      );
      return clusterJson(cluster ?? notFound(id));
    },
  );

  app.patch(
    '/api/v1/clusters/:id',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Change a cluster (only the fields given)',
        params: IdParams,
        body: Type.Object(
          {
            name: Type.Optional(Name),
            description: Type.Optional(Description),
            config: Type.Optional(ClusterConfigSchema),
            scopes: Type.Optional(ClusterScopesSchema),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: ClusterJson },
      },
    },
    async (req) => {
      const { id } = req.params;
      const body = req.body;
      const cluster = await store.update(id, {
        name: body.name,
        description: body.description,
        config: body.config === undefined ? undefined : checkClusterConfig(body.config as ClusterConfig),
        scopes: body.scopes === undefined ? undefined : checkClusterScopes(body.scopes),
      });
      if (!cluster) notFound(id);
      await audit(req, 'cluster.update', id, { fields: Object.keys(body) });
      await state.reload();
      return clusterJson(cluster);
    },
  );

  app.delete(
    '/api/v1/clusters/:id',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: { summary: 'Delete a cluster without active components', params: IdParams },
    },
    async (req, reply) => {
      const { id } = req.params;
      const cluster = (await store.get(id)) ?? notFound(id);
      if (cluster.isDefault) {
        throw new WarrenError('CLUSTER_IS_DEFAULT', 'the default cluster cannot be deleted', 409);
      }
      const active = state.components(id, await store.components(id)).filter((c) => c.state === 'active');
      if (active.length > 0) {
        throw new WarrenError(
          'CLUSTER_IN_USE',
          `cluster '${cluster.name}' has ${active.length} active component(s) (${active
            .slice(0, 5)
            .map((c) => c.id)
            .join(', ')}); stop them or move them to another cluster first`,
          409,
        );
      }
      if (!(await store.delete(id))) notFound(id);
      await audit(req, 'cluster.delete', id, { name: cluster.name });
      await state.reload();
      reply.status(204);
    },
  );

  app.get(
    '/api/v1/clusters/:id/components',
    {
      config: { access: { scope: 'read' } },
      schema: {
        summary: "The cluster's schedulers and seed peers, active or inactive",
        params: IdParams,
        querystring: PageQuery,
        response: { 200: Page(ComponentJson) },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const { limit, cursor } = req.query;
      const after = decodeCursor(cursor);
      const views = await read(
        reply,
        async () => {
          if (!(await store.get(id))) notFound(id);
          return state.components(id, await store.components(id));
        },
        () => (state.cluster(id) ? state.components(id) : notFound(id)),
      );
      const rows = views.filter((c) => !after || c.id > after.id).slice(0, limit + 1);
      return toPage(rows, limit, (c) => [c.id, c.id], componentJson);
    },
  );
}

function notFound(id: string): never {
  throw new WarrenError('NOT_FOUND', `no cluster with id '${id}'`, 404);
}

function clusterJson(c: Cluster) {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    config: c.config,
    scopes: c.scopes,
    is_default: c.isDefault,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

function componentJson(c: ComponentView) {
  return {
    id: c.id,
    role: c.role,
    cluster_id: c.clusterId,
    hostname: c.hostname,
    ip: c.ip,
    port: c.port,
    idc: c.idc,
    location: c.location,
    registered_at: c.registeredAt,
    last_seen_at: c.lastSeenAt,
    state: c.state,
  };
}
