import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { silentLogger } from '../../src/core/log.js';
import { ManagerSync } from '../../src/core/manager-sync.js';
import { TrustState } from '../../src/core/trust.js';
import { DEFAULT_CLUSTER_ID } from '../../src/manager/db/migrations.js';
import { createManagerClient, type ManagerClient } from '../../src/protocol/manager-client.js';
import { createToken, rootSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { makeTestCa } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

after(cleanupTempDirs);

/** Polls `check` until it returns true or the deadline passes. */
async function eventually(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const { timeoutMs = 10_000, everyMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const FLAGS = {
  'keepalive.interval': '300ms',
  'keepalive.inactiveAfter': '1500ms',
  'cache.refresh': '200ms',
};

for (const { kind, skip } of databaseKinds()) {
  describe(`clusters on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    let m: TestManager;
    let token: string;
    let root: string;
    const clients: ManagerClient[] = [];

    before(async () => {
      m = await startTestManager({ database: await databases.next(), flags: FLAGS });
      root = await rootSession(m);
      token = (await createToken(m, root, ['read', 'cluster'])).token;
    });
    after(async () => {
      for (const c of clients) c.close();
      await m?.stop();
      databases.close();
    });

    /** A ManagerService client with a certificate from the manager's CA. */
    async function component(role: 'scheduler' | 'seed' | 'peer' | 'client', name: string) {
      const tls = await m.manager.ctx.ca.issue({ name, role, lifetimeMs: 3_600_000 });
      const client = createManagerClient({ address: m.rpc, tls });
      clients.push(client);
      return { client, serial: tls.serial, tls };
    }

    const call = (method: string, path: string, body?: unknown) => m.call(method, path, { token, body });

    test('create, list with pages, get, change and delete clusters; every mutation is audited', async () => {
      const made = await call('POST', '/api/v1/clusters', {
        name: 'east',
        description: 'east coast',
        config: { scheduler: { candidateParentLimit: 3 }, peer: { gc: { ttl: '48h', highWatermark: 0.9 } } },
        scopes: { cidrs: ['10.1.0.0/16'], hostnames: ['east-[0-9]+'] },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.match(made.body.id, /^cls_/);
      assert.deepEqual(made.body.scopes, {
        cidrs: ['10.1.0.0/16'],
        hostnames: ['east-[0-9]+'],
        idcs: [],
        locations: [],
      });
      assert.equal(made.body.is_default, false);
      const again = await call('POST', '/api/v1/clusters', { name: 'east' });
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'CLUSTER_EXISTS');
      assert.equal((await call('POST', '/api/v1/clusters', { name: 'west' })).status, 201);

      const first = await call('GET', '/api/v1/clusters?limit=2');
      assert.equal(first.status, 200);
      assert.deepEqual(
        first.body.items.map((c: { name: string }) => c.name),
        ['default', 'east'],
      );
      assert.ok(first.body.next_cursor);
      const second = await call('GET', `/api/v1/clusters?limit=2&cursor=${first.body.next_cursor}`);
      assert.deepEqual(
        second.body.items.map((c: { name: string }) => c.name),
        ['west'],
      );
      assert.equal(second.body.next_cursor, null);
      assert.equal(first.headers['warren-cache'], undefined, 'served from the database');

      const id = made.body.id;
      const got = await call('GET', `/api/v1/clusters/${id}`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.config, made.body.config);
      const changed = await call('PATCH', `/api/v1/clusters/${id}`, {
        description: 'changed',
        scopes: { idcs: ['idc-east'] },
      });
      assert.equal(changed.status, 200);
      assert.equal(changed.body.description, 'changed');
      assert.deepEqual(changed.body.scopes.idcs, ['idc-east']);
      assert.deepEqual(changed.body.scopes.cidrs, [], 'scopes are replaced as a whole');
      assert.equal(changed.body.name, 'east');
      assert.equal((await call('PATCH', `/api/v1/clusters/${id}`, { name: 'west' })).status, 409);

      assert.equal((await call('DELETE', `/api/v1/clusters/${id}`)).status, 204);
      assert.equal((await call('GET', `/api/v1/clusters/${id}`)).status, 404);
      assert.equal((await call('DELETE', `/api/v1/clusters/${id}`)).status, 404);
      const removeDefault = await call('DELETE', `/api/v1/clusters/${DEFAULT_CLUSTER_ID}`);
      assert.equal(removeDefault.status, 409);
      assert.equal(removeDefault.body.error.code, 'CLUSTER_IS_DEFAULT');

      const audit = await m.manager.ctx.db
        .selectFrom('audit_log')
        .select(['action', 'target'])
        .where('action', 'like', 'cluster.%')
        .orderBy('at')
        .execute();
      assert.deepEqual(
        audit.filter((a) => a.target === id).map((a) => a.action),
        ['cluster.create', 'cluster.update', 'cluster.delete'],
      );
    });

    test('refuses bad configuration and locality rules, writing nothing', async () => {
      const bad = [
        { name: 'bad name!' },
        { name: 'x', config: { scheduler: { unknownKey: 1 } } },
        { name: 'x', config: { scheduler: { candidateParentLimit: 0 } } },
        { name: 'x', config: { peer: { gc: { ttl: 'forever' } } } },
        { name: 'x', config: { peer: { gc: { highWatermark: 0.5, lowWatermark: 0.7 } } } },
        { name: 'x', scopes: { cidrs: ['10.0.0.0/40'] } },
        { name: 'x', scopes: { hostnames: ['(a+)+$'] } },
        { name: 'x', scopes: { hostnames: ['web-(['] } },
        { name: 'x', scopes: { hostnames: ['a'.repeat(300)] } },
        { name: 'x', scopes: { idcs: Array.from({ length: 101 }, (_, i) => `idc${i}`) } },
      ];
      for (const body of bad) {
        const res = await call('POST', '/api/v1/clusters', body);
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} -> ${res.status}`);
        assert.equal(res.body.error.code, 'BAD_REQUEST');
      }
      const rows = await m.manager.ctx.db
        .selectFrom('clusters')
        .select('name')
        .where('name', '=', 'x')
        .execute();
      assert.deepEqual(rows, []);
    });

    test('a token without the cluster scope may read but not create', async () => {
      const reader = (await createToken(m, root, ['read'])).token;
      assert.equal((await m.call('GET', '/api/v1/clusters', { token: reader })).status, 200);
      const refused = await m.call('POST', '/api/v1/clusters', { token: reader, body: { name: 'nope' } });
      assert.equal(refused.status, 403);
      const rows = await m.manager.ctx.db
        .selectFrom('clusters')
        .select('name')
        .where('name', '=', 'nope')
        .execute();
      assert.deepEqual(rows, []);
    });

    test('Sync registers schedulers and seeds, answers peers, and marks the silent inactive', async () => {
      const north = await call('POST', '/api/v1/clusters', {
        name: 'north',
        config: { scheduler: { candidateParentLimit: 2 } },
        scopes: { cidrs: ['10.9.0.0/16'] },
      });
      assert.equal(north.status, 201);
      const clusterId = north.body.id;
      const scheduler = await component('scheduler', 'sched-north');
      const seed = await component('seed', 'seed-north');
      const peer = await component('peer', 'peer-north');

      // The scheduler names its cluster; the seed and the peer are placed by the CIDR rule.
      const s = await scheduler.client.sync({
        cluster: 'north',
        hostname: 'sched',
        ip: '127.0.0.1',
        port: 8002,
      });
      assert.equal(s.clusterId, clusterId);
      assert.deepEqual(JSON.parse(s.clusterConfigJson), { scheduler: { candidateParentLimit: 2 } });
      assert.deepEqual(
        s.schedulers.map((e) => ({ ...e })),
        [{ $typeName: 'warren.manager.v1.SchedulerEndpoint', id: 'sched-north', address: '127.0.0.1:8002' }],
      );
      assert.equal(s.caPem, m.caPem);
      assert.equal(s.keepaliveIntervalMs, 300);
      const sd = await seed.client.sync({ hostname: 'seed', ip: '10.9.1.1', port: 4100 });
      assert.equal(sd.clusterName, 'north');
      const p = await peer.client.sync({ hostname: 'peer', ip: '10.9.3.3', port: 4100 });
      assert.equal(p.clusterName, 'north');
      assert.deepEqual(
        p.schedulers.map((e) => e.address),
        ['127.0.0.1:8002'],
      );
      // Elsewhere, a peer lands in the default cluster, which has no scheduler.
      const elsewhere = await peer.client.sync({ hostname: 'peer', ip: '192.168.0.9', port: 4100 });
      assert.equal(elsewhere.clusterId, DEFAULT_CLUSTER_ID);
      assert.deepEqual(elsewhere.schedulers, []);

      // Registrations reach the database (schedulers and seeds only, never peers).
      const db = m.manager.ctx.db;
      await eventually('registrations written', async () => {
        const rows = await db
          .selectFrom('components')
          .select('id')
          .where('cluster_id', '=', clusterId)
          .execute();
        return rows.length === 2;
      });
      const stored = await db.selectFrom('components').selectAll().orderBy('id').execute();
      assert.deepEqual(
        stored.filter((r) => r.cluster_id === clusterId).map((r) => [r.id, r.role, r.port]),
        [
          ['sched-north', 'scheduler', 8002],
          ['seed-north', 'seed', 4100],
        ],
      );
      assert.ok(!stored.some((r) => r.id === 'peer-north'), 'peers are not stored');

      const listed = await call('GET', `/api/v1/clusters/${clusterId}/components`);
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.items.map((c: { id: string; state: string }) => [c.id, c.state]),
        [
          ['sched-north', 'active'],
          ['seed-north', 'active'],
        ],
      );
      // A cluster with active components cannot be deleted.
      const busy = await call('DELETE', `/api/v1/clusters/${clusterId}`);
      assert.equal(busy.status, 409);
      assert.equal(busy.body.error.code, 'CLUSTER_IN_USE');

      // Keepalives from the seed only: the scheduler goes inactive and leaves the peers' answers.
      const firstSeen = stored.find((r) => r.id === 'seed-north')!.last_seen_at;
      await eventually(
        'scheduler inactive',
        async () => {
          await seed.client.sync({ hostname: 'seed', ip: '10.9.1.1', port: 4100 });
          const res = await call('GET', `/api/v1/clusters/${clusterId}/components`);
          const states = Object.fromEntries(
            res.body.items.map((c: { id: string; state: string }) => [c.id, c.state]),
          );
          return states['sched-north'] === 'inactive' && states['seed-north'] === 'active';
          // A keepalive's pace: the manager limits calls per component.
        },
        { everyMs: 300 },
      );
      // Answers reuse a cluster's scheduler list for up to a second.
      await eventually(
        'an inactive scheduler is not handed to peers',
        async () =>
          (await peer.client.sync({ hostname: 'peer', ip: '10.9.3.3', port: 4100 })).schedulers.length === 0,
        { everyMs: 300 },
      );
      await eventually('the seed keepalive moves last_seen_at in the database', async () => {
        const row = await db
          .selectFrom('components')
          .select('last_seen_at')
          .where('id', '=', 'seed-north')
          .executeTakeFirst();
        return row !== undefined && row.last_seen_at > firstSeen;
      });
      // Once the seed is silent too, the cluster can go; its registry rows go with it.
      await eventually('seed inactive', async () => !m.manager.ctx.clusters.hasActiveComponents(clusterId));
      assert.equal((await call('DELETE', `/api/v1/clusters/${clusterId}`)).status, 204);
      const left = await db
        .selectFrom('components')
        .select('id')
        .where('cluster_id', '=', clusterId)
        .execute();
      assert.deepEqual(left, []);
    });

    test('Sync is rate-limited per caller, while other callers are served', async () => {
      const noisy = await component('peer', 'peer-noisy');
      const calm = await component('peer', 'peer-calm');
      const burst = await Promise.allSettled(Array.from({ length: 40 }, () => noisy.client.sync({})));
      const limited = burst.filter(
        (r) => r.status === 'rejected' && ConnectError.from(r.reason).code === Code.ResourceExhausted,
      );
      assert.ok(limited.length > 0, 'a burst above the limit is refused');
      assert.ok(
        burst.some((r) => r.status === 'fulfilled'),
        'calls within the limit are answered',
      );
      assert.equal((await calm.client.sync({})).clusterId, DEFAULT_CLUSTER_ID);
    });

    test('Sync refuses certificates of other roles, revoked ones, and other CAs', async () => {
      const client = await component('client', 'cli-user');
      await assert.rejects(client.client.sync({}), (err: unknown) => {
        assert.equal(ConnectError.from(err).code, Code.PermissionDenied);
        assert.match(ConnectError.from(err).message, /role 'client' may not call Sync/);
        return true;
      });

      const revoked = await component('scheduler', 'sched-revoked');
      await revoked.client.sync({ ip: '127.0.0.1', port: 8010 });
      await m.manager.ctx.ca.revoke(revoked.serial, 'test');
      await m.manager.ctx.clusters.reload();
      await assert.rejects(revoked.client.sync({ ip: '127.0.0.1', port: 8010 }), (err: unknown) => {
        assert.ok([Code.PermissionDenied, Code.Unavailable].includes(ConnectError.from(err).code));
        return true;
      });
      // A new connection with that certificate is cut at the handshake.
      const again = createManagerClient({ address: m.rpc, tls: revoked.tls });
      clients.push(again);
      await assert.rejects(again.sync({ ip: '127.0.0.1', port: 8010 }), (err: unknown) => {
        // Cut before any call is read: a transport error, not the handler's PermissionDenied.
        assert.ok([Code.Unavailable, Code.Canceled].includes(ConnectError.from(err).code), String(err));
        return true;
      });

      const stranger = await makeTestCa(tempDir('warren-other-ca-'));
      const outsider = await stranger.issue('scheduler', 'sched-outsider');
      const outside = createManagerClient({ address: m.rpc, tls: { ...outsider.material, ca: m.caPem } });
      clients.push(outside);
      await assert.rejects(outside.sync({ ip: '127.0.0.1', port: 8011 }));
      const rows = await m.manager.ctx.db
        .selectFrom('components')
        .select('id')
        .where('id', 'in', ['cli-user', 'sched-outsider'])
        .execute();
      assert.deepEqual(rows, [], 'nothing registered for refused callers');
    });
  });
}

describe('the component side of Sync', () => {
  test('feeds the trust lists, keeps the last answer on disk (0600) and starts from it without a manager', async () => {
    const m = await startTestManager({ flags: FLAGS });
    const dir = tempDir('warren-sync-');
    const cacheFile = join(dir, 'manager-cache.json');
    const tls = await m.manager.ctx.ca.issue({
      name: 'sched-sync',
      role: 'scheduler',
      lifetimeMs: 3_600_000,
    });
    const doomed = await m.manager.ctx.ca.issue({ name: 'peer-doomed', role: 'peer', lifetimeMs: 3_600_000 });
    const root = await rootSession(m);
    const trust = new TrustState();
    const options = {
      request: () => ({ cluster: '', hostname: 'h', ip: '127.0.0.1', port: 8002, idc: '', location: '' }),
      cacheFile,
      trust,
      log: silentLogger(),
    };
    let sync = new ManagerSync({ ...options, connect: () => createManagerClient({ address: m.rpc, tls }) });
    try {
      await sync.start(5_000);
      assert.equal(sync.current?.clusterId, DEFAULT_CLUSTER_ID);
      assert.deepEqual(sync.current?.schedulers, [{ id: 'sched-sync', address: '127.0.0.1:8002' }]);
      assert.equal(statSync(cacheFile).mode & 0o777, 0o600);

      // A revocation and a block reach the component with the next keepalives.
      await m.manager.ctx.ca.revoke(doomed.serial, 'test');
      const blocked = await m.call('POST', '/api/v1/blocklist', {
        token: root,
        body: { host: 'peer-bad', reason: 'test' },
      });
      assert.equal(blocked.status, 201, JSON.stringify(blocked.body));
      await eventually(
        'trust lists updated',
        async () => trust.isRevokedSerial(doomed.serial) && trust.isBlockedHost('peer-bad'),
      );
    } finally {
      await sync.stop();
      await m.stop();
    }

    // The manager is gone: a fresh start (a restarted component) has the last answer at once.
    const alone = new TrustState();
    sync = new ManagerSync({
      ...options,
      trust: alone,
      connect: () => createManagerClient({ address: m.rpc, tls }),
    });
    try {
      await sync.start(5_000);
      assert.equal(sync.current?.clusterId, DEFAULT_CLUSTER_ID);
      assert.deepEqual(sync.current?.schedulers, [{ id: 'sched-sync', address: '127.0.0.1:8002' }]);
      assert.ok(alone.isRevokedSerial(doomed.serial));
      assert.ok(alone.isBlockedHost('peer-bad'));
    } finally {
      await sync.stop();
    }
  });
});
