import { Type } from '@sinclair/typebox';
import { WarrenError } from '../../core/errors.js';
import { tooManyRequests } from '../../core/http/app.js';
import { Page, PageQuery } from '../../core/http/pagination.js';
import type { ManagerContext } from '../context.js';
import { DEFAULT_CLUSTER_ID } from '../db/migrations.js';
import type { JobType } from '../db/schema.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';
import { resolvePreheatImage } from '../jobs/image-preheat.js';
import { MAX_PREHEAT_URLS, type PreheatArgs, parseJobArgs, redactArgs } from '../jobs/job-args.js';
import { jobView } from '../jobs/job-store.js';

const JOB_TYPES = ['preheat', 'find_task', 'delete_task'] as const;
const JOB_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ResultJson = Type.Object({
  scheduler: Type.String(),
  host: Type.String({ description: "host id (certificate name); '' when the scheduler itself failed" }),
  hostname: Type.String(),
  ip: Type.String(),
  is_seed: Type.Boolean(),
  peer: Nullable(Type.String({ description: '<host>/<task id> when the host holds (or held) the task' })),
  task_id: Type.String(),
  url: Nullable(Type.String()),
  state: Type.Union(['succeeded', 'failed', 'refused', 'timeout'].map((s) => Type.Literal(s))),
  error: Nullable(Type.String()),
  has_task: Nullable(Type.Boolean({ description: 'find/delete: the host held (some of) the task' })),
  complete: Nullable(Type.Boolean()),
  bytes: Nullable(Type.Number({ description: 'verified bytes held' })),
  content_length: Nullable(Type.Number()),
});

const JobJson = Type.Object({
  id: Type.String(),
  type: Type.Union(JOB_TYPES.map((t) => Type.Literal(t))),
  state: Type.Union(JOB_STATES.map((s) => Type.Literal(s))),
  cluster_id: Type.String(),
  progress: Type.Number({ minimum: 0, maximum: 1 }),
  args: Type.Object(
    {},
    { additionalProperties: true, description: 'as created; origin header values redacted' },
  ),
  results: Type.Array(ResultJson),
  error: Nullable(Type.String()),
  created_by: Type.String(),
  created_at: Type.String(),
  started_at: Nullable(Type.String()),
  finished_at: Nullable(Type.String()),
});

const ARGS_HELP =
  `preheat: {urls: string[] (1-${MAX_PREHEAT_URLS}, http/https), headers?, tag?, application?, filter_query?` +
  " | image: string (a reference on a registry in the manager's config), platform?: 'os/arch[/variant]', " +
  "scope: 'single_seed_peer'|'all_seed_peers'|'all_peers', count? | percentage? (all_peers only)}; " +
  'find_task and delete_task: {task_id} or {url, tag?, application?, filter_query?}';

/**
 * Jobs: preheat, find task, delete task (threat 6: purge a bad task from
 * every peer). Created into a bounded queue in the database (jobs/), limited
 * per cluster per second, carried out by the job runner through the
 * cluster's schedulers.
 */
export async function jobRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.post(
    '/api/v1/jobs',
    {
      config: { access: { scope: 'job', write: true } },
      schema: {
        summary: 'Create a job (preheat, find_task, delete_task)',
        body: Type.Object(
          {
            type: Type.Union(JOB_TYPES.map((t) => Type.Literal(t))),
            cluster_id: Type.Optional(
              Type.String({ minLength: 1, maxLength: 64, description: 'default: the default cluster' }),
            ),
            args: Type.Object({}, { additionalProperties: true, description: ARGS_HELP }),
          },
          { additionalProperties: false },
        ),
        response: { 201: JobJson },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const type = req.body.type as JobType;
      const args = parseJobArgs(type, req.body.args);
      const clusterId = req.body.cluster_id ?? DEFAULT_CLUSTER_ID;
      const wait = ctx.jobs.limiter.take(clusterId);
      if (wait > 0) {
        throw tooManyRequests(
          reply,
          wait,
          `more than ${ctx.settings.rateLimit.jobsPerCluster} jobs per second created in cluster ${clusterId}`,
        );
      }
      // The in-memory copy knows every cluster but one made in the last cache.refresh.
      const known =
        ctx.clusters.cluster(clusterId) ??
        (await ctx.db.selectFrom('clusters').select('id').where('id', '=', clusterId).executeTakeFirst());
      if (!known) throw new WarrenError('CLUSTER_NOT_FOUND', `no cluster ${clusterId}`, 404);
      if (type === 'preheat' && (args as PreheatArgs).image !== undefined) {
        // Resolved now, so a wrong name or registry is the caller's 4xx at once,
        // and every host warms the same manifest even if the tag moves later.
        (args as PreheatArgs).resolved = await resolvePreheatImage(ctx.registries, args as PreheatArgs);
      }
      const pending = await ctx.jobs.store.countPending(ctx.jobs.queueLimit);
      if (pending >= ctx.jobs.queueLimit) {
        throw new WarrenError(
          'QUEUE_FULL',
          `the job queue holds its maximum of ${ctx.jobs.queueLimit} pending jobs; try again later`,
          503,
        );
      }
      // The job and its audit entry are one transaction: no job without its record.
      const row = await ctx.db.transaction().execute(async (trx) => {
        const job = await ctx.jobs.store.insert(
          { type, clusterId, args, createdBy: principal.userName },
          trx,
        );
        await ctx.audit.record(
          {
            actor: principal.userName,
            action: 'job.create',
            target: `job:${job.id}`,
            address: req.ip,
            detail: { type, cluster_id: clusterId, args: redactArgs(args) },
          },
          trx,
        );
        return job;
      });
      ctx.jobs.runner.wake();
      return reply.status(201).send(jobView(row));
    },
  );

  app.get(
    '/api/v1/jobs',
    {
      config: { access: { scope: 'job' } },
      schema: {
        summary: 'List jobs, newest first',
        querystring: Type.Object({
          ...PageQuery.properties,
          state: Type.Optional(Type.Union(JOB_STATES.map((s) => Type.Literal(s)))),
          type: Type.Optional(Type.Union(JOB_TYPES.map((t) => Type.Literal(t)))),
        }),
        response: { 200: Page(JobJson) },
      },
    },
    async (req) => {
      const { state, type, ...page } = req.query;
      return ctx.jobs.store.list(page, { state, type });
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    {
      config: { access: { scope: 'job' } },
      schema: {
        summary: 'A job with its progress and per-host results',
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: JobJson },
      },
    },
    async (req) => {
      const row = await ctx.jobs.store.get(req.params.id);
      if (!row) throw new WarrenError('JOB_NOT_FOUND', `no job ${req.params.id}`, 404);
      return jobView(row);
    },
  );
}
