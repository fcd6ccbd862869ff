import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/core/config.js';
import { nowIso } from '../../src/core/db/database.js';
import { taskIdFor } from '../../src/core/task.js';
import { STALE_AFTER_MS } from '../../src/manager/jobs/job-runner.js';
import { ORPHAN_ERROR } from '../../src/manager/jobs/job-store.js';
import { managerInstance } from '../../src/manager/jobs/jobs.js';
import { CommandState, type HostEvent } from '../../src/protocol/gen/scheduler_pb.js';
import { createManagerClient, type ManagerClient } from '../../src/protocol/manager-client.js';
import { createSchedulerClient, type SchedulerClient } from '../../src/protocol/scheduler-client.js';
import { SchedulerConfigSchema } from '../../src/scheduler/config.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { createToken, rootSession, userSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * Jobs through the manager's REST API and runner, on SQLite and PostgreSQL:
 * validation, scopes, the per-cluster limit, the bounded queue, timeouts,
 * orphaned jobs, one run per job with two managers, and a real in-process
 * scheduler (registered through the manager's Sync) whose hosts answer.
 */

after(cleanupTempDirs);

const FLAGS = { 'keepalive.inactiveAfter': '10m', 'cache.refresh': '200ms' };
const url = 'https://origin.example/data.bin';

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for the job to reach one of `states`; returns its body. */
async function waitJob(
  m: TestManager,
  token: string,
  id: string,
  states = ['succeeded', 'failed'],
  // biome-ignore lint/suspicious/noExplicitAny: REST bodies are read as JSON
): Promise<any> {
  return eventually(`job ${id} in ${states.join('/')}`, async () => {
    const res = await m.call('GET', `/api/v1/jobs/${id}`, { token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return states.includes(res.body.state) ? res.body : undefined;
  });
}

/** Components started for a test, closed in `after`. */
const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** Registers a scheduler (its certificate from the manager's CA) through the manager's real Sync RPC. */
async function register(m: TestManager, name: string, port: number, cluster = '') {
  const tls = await m.manager.ctx.ca.issue({ name, role: 'scheduler', lifetimeMs: 3_600_000 });
  const client: ManagerClient = createManagerClient({ address: m.rpc, tls });
  closers.push(() => client.close());
  await client.sync({ cluster, hostname: name, ip: '127.0.0.1', port });
  return tls;
}

/** A real scheduler in this process, registered with the manager. */
async function startScheduler(m: TestManager, name: string): Promise<Scheduler> {
  const tls = await m.manager.ctx.ca.issue({ name, role: 'scheduler', lifetimeMs: 3_600_000 });
  const config = loadConfig(SchedulerConfigSchema, {
    env: {},
    flags: { listen: '127.0.0.1:0', opsListen: '127.0.0.1:0' },
  });
  const scheduler = new Scheduler({ config, tls });
  const { listen } = await scheduler.start();
  closers.push(() => scheduler.stop());
  await register(m, name, Number(listen.split(':').pop()));
  return scheduler;
}

/** A host on the scheduler's AnnounceHost stream that answers every command with `answer`. */
async function startHost(
  m: TestManager,
  scheduler: Scheduler,
  name: string,
  answer: (event: Extract<HostEvent['event'], { case: 'command' }>['value']) => { hasTask: boolean },
): Promise<SchedulerClient> {
  const tls = await m.manager.ctx.ca.issue({ name, role: 'peer', lifetimeMs: 3_600_000 });
  const client = createSchedulerClient({ address: scheduler.addresses.listen, tls });
  closers.push(() => client.close());
  const host = { id: name, hostname: name, ip: '127.0.0.1', uploadPort: 4100, uploadLimit: 10 };
  void (async () => {
    for await (const event of client.announceHost({ host })) {
      if (event.event.case !== 'command') continue;
      const command = event.event.value;
      await client.reportCommand({
        commandId: command.commandId,
        state: CommandState.SUCCEEDED,
        ...answer(command),
      });
    }
  })().catch(() => undefined);
  return client;
}

/** A TCP server that accepts connections and never answers: a scheduler that hangs. */
async function blackHole(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

for (const { kind, skip } of databaseKinds()) {
  describe(`jobs on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    describe('one manager', () => {
      let m: TestManager;
      let root: string;
      let jobToken: string;
      before(async () => {
        m = await startTestManager({ database: await databases.next(), flags: FLAGS });
        root = await rootSession(m);
        jobToken = (await createToken(m, root, ['job'])).token;
      });
      after(() => m?.stop());

      test('validates, refuses a read-only token, lists in pages, hides origin headers, audits', async () => {
        const readToken = (await createToken(m, root, ['read'])).token;
        const body = {
          type: 'preheat',
          args: { urls: [url], scope: 'all_seed_peers', headers: { Authorization: 'Bearer s3cr3t' } },
        };
        const refused = await m.call('POST', '/api/v1/jobs', { token: readToken, body });
        assert.equal(refused.status, 403);
        assert.match(refused.body.error.message, /lacks the 'job' scope/);
        assert.equal((await m.call('POST', '/api/v1/jobs', { body })).status, 401);
        assert.equal(await m.manager.ctx.jobs.store.countPending(1_000), 0, 'nothing was queued');
        const jobs = await m.manager.ctx.db.selectFrom('jobs').select('id').execute();
        assert.equal(jobs.length, 0);

        const bad = await m.call('POST', '/api/v1/jobs', {
          token: jobToken,
          body: { type: 'preheat', args: { urls: ['ftp://x/y'], scope: 'all_peers' } },
        });
        assert.equal(bad.status, 400);
        assert.match(bad.body.error.message, /args\.urls\.0: scheme 'ftp:'/);
        const noCluster = await m.call('POST', '/api/v1/jobs', {
          token: jobToken,
          body: { type: 'find_task', cluster_id: 'cls_nope', args: { url } },
        });
        assert.equal(noCluster.status, 404);
        assert.equal(noCluster.body.error.code, 'CLUSTER_NOT_FOUND');

        const made = await m.call('POST', '/api/v1/jobs', { token: jobToken, body });
        assert.equal(made.status, 201, JSON.stringify(made.body));
        assert.match(made.body.id, /^job_/);
        assert.equal(made.body.cluster_id, 'cls_default');
        assert.deepEqual(made.body.args.headers, { Authorization: '<redacted>' });
        // No scheduler has registered: the job fails, saying so.
        const failed = await waitJob(m, jobToken, made.body.id);
        assert.equal(failed.state, 'failed');
        assert.equal(failed.error, 'no active scheduler in cluster cls_default');
        assert.ok(failed.started_at && failed.finished_at);
        assert.ok(!JSON.stringify(failed).includes('s3cr3t'));

        for (const type of ['find_task', 'delete_task']) {
          const r = await m.call('POST', '/api/v1/jobs', { token: jobToken, body: { type, args: { url } } });
          assert.equal(r.status, 201);
        }
        const first = await m.call('GET', '/api/v1/jobs?limit=2', { token: jobToken });
        assert.deepEqual(
          first.body.items.map((j: { type: string }) => j.type),
          ['delete_task', 'find_task'],
        );
        assert.ok(first.body.next_cursor);
        const second = await m.call('GET', `/api/v1/jobs?limit=2&cursor=${first.body.next_cursor}`, {
          token: jobToken,
        });
        assert.deepEqual(
          second.body.items.map((j: { id: string }) => j.id),
          [made.body.id],
        );
        assert.equal(second.body.next_cursor, null);
        const preheats = await m.call('GET', '/api/v1/jobs?type=preheat&state=failed', { token: jobToken });
        assert.deepEqual(
          preheats.body.items.map((j: { id: string }) => j.id),
          [made.body.id],
        );
        assert.equal((await m.call('GET', '/api/v1/jobs/job_nope', { token: jobToken })).status, 404);
        assert.equal((await m.call('GET', '/api/v1/jobs', { token: readToken })).status, 403);

        // The audit log: root only, newest first, filters, never the header value.
        const audit = await m.call('GET', '/api/v1/audit?action=job.create', { token: root });
        assert.equal(audit.status, 200);
        assert.deepEqual(
          audit.body.items.map((e: { detail: { type: string } }) => e.detail.type),
          ['delete_task', 'find_task', 'preheat'],
        );
        assert.equal(audit.body.items[2].actor, 'root');
        assert.equal(audit.body.items[2].target, `job:${made.body.id}`);
        assert.deepEqual(audit.body.items[2].detail.args.headers, { Authorization: '<redacted>' });
        assert.ok(!JSON.stringify(audit.body).includes('s3cr3t'));
        const paged = await m.call('GET', '/api/v1/audit?action=job.create&limit=1', { token: root });
        const rest = await m.call('GET', `/api/v1/audit?action=job.create&cursor=${paged.body.next_cursor}`, {
          token: root,
        });
        assert.equal(rest.body.items.length, 2);
        assert.equal(
          (await m.call('GET', '/api/v1/audit?actor=nobody', { token: root })).body.items.length,
          0,
        );
        const guest = await userSession(m, root, 'auditor', 'guest');
        assert.equal((await m.call('GET', '/api/v1/audit', { token: guest.token })).status, 403);
      });

      test('blocklist: cluster scope adds and removes, read scope lists in pages; audited; reaches Sync', async () => {
        const clusterToken = (await createToken(m, root, ['cluster'])).token;
        const readToken = (await createToken(m, root, ['read'])).token;
        const block = (host: string, token = clusterToken) =>
          m.call('POST', '/api/v1/blocklist', { token, body: { host, reason: 'served a bad piece' } });
        assert.equal((await block('peer-7', readToken)).status, 403);
        assert.equal((await m.manager.ctx.db.selectFrom('blocklist').selectAll().execute()).length, 0);
        const added = await block('peer-7');
        assert.equal(added.status, 201, JSON.stringify(added.body));
        assert.equal(added.body.created_by, 'root');
        assert.equal((await block('peer-7')).body.error.code, 'ALREADY_BLOCKED');
        assert.equal((await block('10.0.0.9')).status, 201);
        assert.equal((await block('fd00::9')).status, 201);
        const bad = await block('not a host!');
        assert.equal(bad.status, 400);
        assert.match(bad.body.error.message, /neither a host id .* nor an IP address/);

        const page = await m.call('GET', '/api/v1/blocklist?limit=2', { token: readToken });
        assert.equal(page.status, 200);
        const next = await m.call('GET', `/api/v1/blocklist?cursor=${page.body.next_cursor}`, {
          token: readToken,
        });
        const listed = [...page.body.items, ...next.body.items].map((e: { host: string }) => e.host);
        assert.deepEqual(listed.sort(), ['10.0.0.9', 'fd00::9', 'peer-7']);

        // The list reaches components through the Sync keepalive.
        const tls = await m.manager.ctx.ca.issue({ name: 'peer-sync', role: 'peer', lifetimeMs: 3_600_000 });
        const client = createManagerClient({ address: m.rpc, tls });
        closers.push(() => client.close());
        await eventually('blocked hosts in Sync', async () => {
          const answer = await client.sync({});
          return answer.blockedHosts.includes('peer-7') ? true : undefined;
        });

        assert.equal((await m.call('DELETE', '/api/v1/blocklist/peer-7', { token: readToken })).status, 403);
        assert.equal(
          (await m.call('DELETE', '/api/v1/blocklist/peer-7', { token: clusterToken })).status,
          204,
        );
        const again = await m.call('DELETE', '/api/v1/blocklist/peer-7', { token: clusterToken });
        assert.equal(again.status, 404);
        assert.equal(again.body.error.code, 'NOT_BLOCKED');
        assert.equal(
          (await m.call('DELETE', '/api/v1/blocklist/fd00::9', { token: clusterToken })).status,
          204,
        );
        const audit = await m.call('GET', '/api/v1/audit?actor=root', { token: root });
        const actions = audit.body.items
          .filter((e: { action: string }) => e.action.startsWith('blocklist.'))
          .map((e: { action: string; target: string }) => `${e.action} ${e.target}`);
        assert.deepEqual(actions.sort(), [
          'blocklist.add host:10.0.0.9',
          'blocklist.add host:fd00::9',
          'blocklist.add host:peer-7',
          'blocklist.remove host:fd00::9',
          'blocklist.remove host:peer-7',
        ]);
      });

      test('find_task through a real scheduler lists exactly the hosts that hold the task', async () => {
        const scheduler = await startScheduler(m, 'sched-1');
        const taskId = taskIdFor({ url });
        await startHost(m, scheduler, 'holder', () => ({ hasTask: true }));
        await startHost(m, scheduler, 'empty', () => ({ hasTask: false }));
        await eventually('two hosts connected', async () => {
          const hosts = await scheduler.registry.getSingleMetric('warren_scheduler_hosts_connected')!.get();
          return hosts.values[0]?.value === 2 ? true : undefined;
        });
        const made = await m.call('POST', '/api/v1/jobs', {
          token: jobToken,
          body: { type: 'find_task', args: { url } },
        });
        assert.equal(made.status, 201);
        const job = await waitJob(m, jobToken, made.body.id);
        assert.equal(job.state, 'succeeded', job.error);
        assert.equal(job.progress, 1);
        const byHost = Object.fromEntries(
          job.results.map((r: { host: string; has_task: boolean }) => [r.host, r.has_task]),
        );
        assert.deepEqual(byHost, { holder: true, empty: false });
        const holder = job.results.find((r: { host: string }) => r.host === 'holder');
        assert.equal(holder.peer, `holder/${taskId}`);
        assert.equal(holder.scheduler, 'sched-1');
        assert.equal(holder.task_id, taskId);
      });

      test('the runner talks only to the scheduler the registry names, by its certificate', async () => {
        const cluster = await m.call('POST', '/api/v1/clusters', { token: root, body: { name: 'imposter' } });
        assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
        const real = await startScheduler(m, 'sched-real');
        // 'sched-fake' registers the real scheduler's address as its own.
        await register(m, 'sched-fake', Number(real.addresses.listen.split(':').pop()), 'imposter');
        const made = await m.call('POST', '/api/v1/jobs', {
          token: jobToken,
          body: { type: 'find_task', cluster_id: cluster.body.id, args: { url } },
        });
        const job = await waitJob(m, jobToken, made.body.id);
        assert.equal(job.state, 'failed');
        assert.match(job.error, /^scheduler sched-fake: .*expected scheduler 'sched-fake'.*sched-real/);
        assert.equal(job.results[0].host, '');
      });
    });

    test('job creation over the per-cluster limit gets 429 with Retry-After; another cluster is served', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { ...FLAGS, 'rateLimit.jobsPerCluster': 2 },
      });
      try {
        const root = await rootSession(m);
        const { token } = await createToken(m, root, ['job']);
        const other = await m.call('POST', '/api/v1/clusters', { token: root, body: { name: 'other' } });
        assert.equal(other.status, 201);
        const create = (cluster_id?: string) =>
          m.call('POST', '/api/v1/jobs', { token, body: { type: 'find_task', cluster_id, args: { url } } });
        const burst = await Promise.all(Array.from({ length: 8 }, () => create()));
        const created = burst.filter((r) => r.status === 201).length;
        const limited = burst.filter((r) => r.status === 429);
        assert.ok(limited.length >= 4, `only ${limited.length} of 8 refused`);
        assert.ok(created >= 2 && created <= 4, `${created} created`);
        for (const r of limited) {
          assert.equal(r.body.error.code, 'RATE_LIMITED');
          assert.match(r.body.error.message, /more than 2 jobs per second created in cluster cls_default/);
          assert.ok(Number(r.headers['retry-after']) >= 1);
        }
        assert.equal((await create(other.body.id)).status, 201, 'another cluster is still served');
        const rows = await m.manager.ctx.db.selectFrom('jobs').select('id').execute();
        assert.equal(rows.length, created + 1, 'refused creations wrote nothing');
      } finally {
        await m.stop();
      }
    });

    test('the queue is bounded (503 QUEUE_FULL) and a job past its timeout fails', async () => {
      const m = await startTestManager({
        database: await databases.next(),
        flags: { ...FLAGS, 'jobs.queueLimit': 2, 'jobs.concurrency': 1, 'jobs.timeout': '5s' },
      });
      try {
        const root = await rootSession(m);
        const { token } = await createToken(m, root, ['job']);
        await register(m, 'sched-hang', await blackHole());
        const create = () =>
          m.call('POST', '/api/v1/jobs', { token, body: { type: 'find_task', args: { url } } });
        const first = await create();
        assert.equal(first.status, 201);
        await waitJob(m, token, first.body.id, ['running']);
        assert.equal((await create()).status, 201);
        assert.equal((await create()).status, 201);
        const full = await create();
        assert.equal(full.status, 503);
        assert.equal(full.body.error.code, 'QUEUE_FULL');
        const timedOut = await waitJob(m, token, first.body.id);
        assert.equal(timedOut.state, 'failed');
        assert.equal(timedOut.error, 'the job did not finish within 5 s');
      } finally {
        await m.stop();
      }
    });

    test("jobs a dead manager left running fail at start; another live manager's jobs do not", async () => {
      const database = await databases.next();
      const first = await startTestManager({ database, flags: FLAGS });
      const data = first.data;
      const job = (id: string, runner: string, heartbeat: string) => ({
        id,
        type: 'find_task' as const,
        state: 'running' as const,
        cluster_id: 'cls_default',
        args: JSON.stringify({ url }),
        result: '[]',
        progress: 0.5,
        error: null,
        created_by: 'root',
        created_at: nowIso(-60_000),
        started_at: nowIso(-60_000),
        finished_at: null,
        runner_id: runner,
        heartbeat_at: heartbeat,
      });
      await first.manager.ctx.db
        .insertInto('jobs')
        .values([
          job('job_mine', `${managerInstance(data)}#earlier`, nowIso()),
          job('job_live', 'another#replica', nowIso()),
          job('job_dead', 'another#gone', nowIso(-STALE_AFTER_MS - 60_000)),
        ])
        .execute();
      await first.stop();
      const third = await startTestManager({ database, data, flags: FLAGS });
      try {
        const states = Object.fromEntries(
          (await third.manager.ctx.db.selectFrom('jobs').select(['id', 'state', 'error']).execute()).map(
            (r) => [r.id, [r.state, r.error]],
          ),
        );
        assert.deepEqual(states.job_mine, ['failed', ORPHAN_ERROR]);
        assert.deepEqual(states.job_dead, ['failed', ORPHAN_ERROR]);
        assert.deepEqual(states.job_live, ['running', null]);
      } finally {
        await third.stop();
      }
    });

    // Replicas share a database only on PostgreSQL (SQLite is one manager's file).
    const onPostgres = kind === 'postgres' ? test : ((() => undefined) as unknown as typeof test);
    onPostgres('two managers on one database run each job exactly once', async () => {
      const database = await databases.next();
      const flags = { ...FLAGS, 'rateLimit.jobsPerCluster': 1000, 'jobs.concurrency': 2 };
      const one = await startTestManager({ database, flags });
      const data = tempDir('warren-manager-');
      cpSync(join(one.data, 'ca'), join(data, 'ca'), { recursive: true });
      const two = await startTestManager({ database, data, flags });
      try {
        const root = await rootSession(one);
        const { token } = await createToken(one, root, ['job']);
        const scheduler = await startScheduler(one, 'sched-shared');
        await register(two, 'sched-shared', Number(scheduler.addresses.listen.split(':').pop()));
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) {
          const target = i % 2 === 0 ? one : two;
          const r = await target.call('POST', '/api/v1/jobs', {
            token,
            body: { type: 'find_task', args: { url } },
          });
          assert.equal(r.status, 201, JSON.stringify(r.body));
          ids.push(r.body.id);
        }
        const runners = new Set<string>();
        for (const id of ids) {
          const job = await waitJob(one, token, id);
          assert.equal(job.state, 'succeeded', job.error);
          const row = await one.manager.ctx.db
            .selectFrom('jobs')
            .select('runner_id')
            .where('id', '=', id)
            .executeTakeFirst();
          runners.add(row!.runner_id!.split('#')[0]!);
        }
        const metric = await scheduler.registry.getSingleMetric('warren_scheduler_jobs_total')!.get();
        const runs = metric.values.reduce((sum, v) => sum + v.value, 0);
        assert.equal(runs, 20, 'the scheduler ran each job once');
        assert.equal(runners.size, 2, 'both managers ran jobs');
      } finally {
        await two.stop();
        await one.stop();
      }
    });
  });
}
