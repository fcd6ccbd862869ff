import { isIP } from 'node:net';
import { Type } from '@sinclair/typebox';
import { nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { afterCursor, decodeCursor, Page, PageQuery, toPage } from '../../core/http/pagination.js';
import type { ManagerContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

/** Entries the blocklist may hold (components keep at most 100,000 too). */
export const MAX_BLOCKED = 100_000;
/** A host id is a certificate name (core/tls.ts); anything else must be an IP address. */
const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const Entry = Type.Object({
  host: Type.String(),
  reason: Type.String(),
  created_by: Type.String(),
  created_at: Type.String(),
});
const HostParams = Type.Object({ host: Type.String({ minLength: 1, maxLength: 64 }) });

/** A host id or an IP address, or why not. */
export function checkBlockedHost(host: string): string | undefined {
  if (isIP(host) !== 0 || HOST_ID.test(host)) return undefined;
  return `host '${host}' is neither a host id (certificate name: 1-63 of [A-Za-z0-9._-]) nor an IP address`;
}

/**
 * The peer blocklist: hosts (by host id or IP) that schedulers never pick as
 * parents. The table is read by the cluster state and handed to schedulers
 * and peers on every Sync (`blocked_hosts`).
 */
export async function blocklistRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.post(
    '/api/v1/blocklist',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Block a host: schedulers never choose it as a parent',
        body: Type.Object(
          {
            host: Type.String({
              minLength: 1,
              maxLength: 64,
              description: 'host id (certificate name) or IP',
            }),
            reason: Type.Optional(Type.String({ maxLength: 500 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Entry },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const { host } = req.body;
      const why = checkBlockedHost(host);
      if (why) throw new WarrenError('BAD_REQUEST', why, 400);
      const known = await ctx.db
        .selectFrom('blocklist')
        .selectAll()
        .where('host', '=', host)
        .executeTakeFirst();
      if (known) {
        throw new WarrenError(
          'ALREADY_BLOCKED',
          `host ${host} is already blocked (by ${known.created_by})`,
          409,
        );
      }
      const count = await ctx.db
        .selectFrom('blocklist')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(count.n) >= MAX_BLOCKED) {
        throw new WarrenError(
          'BLOCKLIST_FULL',
          `the blocklist holds its maximum of ${MAX_BLOCKED} hosts`,
          409,
        );
      }
      const entry = {
        host,
        reason: req.body.reason ?? '',
        created_by: principal.userName,
        created_at: nowIso(),
      };
      await ctx.db.insertInto('blocklist').values(entry).execute();
      await ctx.audit.record({
        actor: principal.userName,
        action: 'blocklist.add',
        target: `host:${host}`,
        address: req.ip,
        detail: { reason: entry.reason },
      });
      void ctx.clusters.tick(); // reaches the next Sync answers without waiting for the refresh
      return reply.status(201).send(entry);
    },
  );

  app.get(
    '/api/v1/blocklist',
    {
      config: { access: { scope: 'read' } },
      schema: {
        summary: 'Blocked hosts, newest first',
        querystring: PageQuery,
        response: { 200: Page(Entry) },
      },
    },
    async (req) => {
      const after = decodeCursor(req.query.cursor);
      let query = ctx.db.selectFrom('blocklist').selectAll();
      if (after) {
        query = query.where(afterCursor('created_at', 'host', '<', after));
      }
      const rows = await query
        .orderBy('created_at', 'desc')
        .orderBy('host', 'desc')
        .limit(req.query.limit + 1)
        .execute();
      return toPage(
        rows,
        req.query.limit,
        (r) => [r.created_at, r.host],
        (r) => r,
      );
    },
  );

  app.delete(
    '/api/v1/blocklist/:host',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Unblock a host',
        params: HostParams,
        response: { 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const principal = principalOf(req);
      const { host } = req.params;
      const removed = await ctx.db.deleteFrom('blocklist').where('host', '=', host).executeTakeFirst();
      if (Number(removed.numDeletedRows) === 0) {
        throw new WarrenError('NOT_BLOCKED', `host ${host} is not on the blocklist`, 404);
      }
      await ctx.audit.record({
        actor: principal.userName,
        action: 'blocklist.remove',
        target: `host:${host}`,
        address: req.ip,
      });
      void ctx.clusters.tick();
      return reply.status(204).send(null);
    },
  );
}
