import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CLUSTER_ID } from '../../src/manager/db/migrations.js';
import { createToken, rootSession } from '../helpers/auth.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { kill, killAll } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, type GetResult, metric } from './cluster.js';

const MIB = 1024 * 1024;
const FILE_SIZE = 32 * MIB;
/** Two files through a 16 MiB/s origin: the downloads take a few seconds, long enough to pull the plug mid-way. */
const ORIGIN_RATE = 16 * MIB;

/** Polls `check` until it returns true or the deadline passes. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/*
 * Threat 3: the database goes away. The manager runs on a private PostgreSQL;
 * a scheduler, a seed peer and two peers find each other through it. In the
 * middle of downloads PostgreSQL is stopped for real: downloads finish
 * byte-identical, a peer restarted during the outage still finds its
 * scheduler, reads are served from the manager's memory and writes refused
 * with 503. When PostgreSQL is back, writes work again and the registrations
 * kept in memory reach the database, without restarting anything.
 */
describe('PostgreSQL outage in the middle of downloads', { skip: requirePostgres() }, () => {
  let dir: string;
  let pg: TestPostgres;
  let origin: Origin;
  let manager: TestManager;
  let cluster: Cluster;
  let token: string;
  const files: Array<{ name: string; sha256: string }> = [];

  before(async () => {
    dir = tempDir('warren-outage-');
    const www = join(dir, 'www');
    await mkdir(www, { recursive: true });
    for (const name of ['a.bin', 'b.bin', 'c.bin']) {
      files.push({ name, sha256: (await makeRandomFile(join(www, name), FILE_SIZE)).sha256 });
    }
    origin = await startOrigin({ dir: www, rateLimitBytesPerSec: ORIGIN_RATE });
    pg = await startPostgres();
    manager = await startTestManager({
      database: { url: await pg.createDatabase(), passwordFile: pg.passwordFile },
      flags: {
        'keepalive.interval': '500ms',
        'keepalive.inactiveAfter': '5s',
        'cache.refresh': '300ms',
        'database.timeout': '2s',
      },
    });
    token = (await createToken(manager, await rootSession(manager), ['read', 'cluster'])).token;
    cluster = new Cluster(dir).useManager(manager.manager);
    await cluster.startScheduler();
    const clusters = manager.manager.ctx.clusters;
    await eventually('the scheduler registered', () =>
      clusters.components().some((c) => c.id === 'scheduler' && c.state === 'active'),
    );
    await cluster.startPeer('seed-1', { seed: true });
    await cluster.startPeer('peer-1');
    await cluster.startPeer('peer-2');
  });

  after(async () => {
    await killAll();
    await manager?.stop();
    await origin?.close();
    pg?.close();
    cleanupTempDirs();
  });

  const lastSeen = async (id: string) =>
    (
      await manager.manager.ctx.db
        .selectFrom('components')
        .select('last_seen_at')
        .where('id', '=', id)
        .executeTakeFirst()
    )?.last_seen_at;

  it('keeps the plane working while the database is down and recovers by itself', async () => {
    // Before: reads from the database; the token is known to the manager.
    const before = await manager.call('GET', '/api/v1/clusters', { token });
    assert.equal(before.status, 200);
    assert.equal(before.headers['warren-cache'], undefined);
    await eventually('registrations written', async () => (await lastSeen('scheduler')) !== undefined);
    await eventually('registrations written', async () => (await lastSeen('seed-1')) !== undefined);

    const gets: Array<Promise<{ peer: string; name: string; out: string; result: GetResult }>> = [];
    for (const peer of ['peer-1', 'peer-2']) {
      await mkdir(join(dir, 'out', peer), { recursive: true });
      for (const { name } of files.slice(0, 2)) {
        const out = join(dir, 'out', peer, name);
        gets.push(
          cluster
            .get(cluster.peers.get(peer)!, origin.url(name), out)
            .then((result) => ({ peer, name, out, result })),
        );
      }
    }
    // Pull the plug once the downloads are under way (a quarter of the content has left the origin).
    await eventually('downloads under way', () => origin.bytesSent() > FILE_SIZE / 2);
    const stoppedAt = new Date().toISOString();
    pg.stop();
    assert.ok(
      origin.bytesSent() < 2 * FILE_SIZE,
      'the plug was pulled before the content had left the origin',
    );

    // Reads the memory can serve answer 200, marked stale; writes answer 503.
    const list = await manager.call('GET', '/api/v1/clusters', { token });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.headers['warren-cache'], 'stale');
    assert.ok(list.body.items.some((c: { id: string }) => c.id === DEFAULT_CLUSTER_ID));
    const one = await manager.call('GET', `/api/v1/clusters/${DEFAULT_CLUSTER_ID}`, { token });
    assert.equal(one.status, 200);
    assert.equal(one.headers['warren-cache'], 'stale');
    const create = await manager.call('POST', '/api/v1/clusters', { token, body: { name: 'during-outage' } });
    assert.equal(create.status, 503, JSON.stringify(create.body));
    assert.equal(create.body.error.code, 'DATABASE_UNAVAILABLE');

    // A peer restarted now still finds its scheduler: the manager answers Sync from memory.
    const peer2 = cluster.peers.get('peer-2')!;
    await kill(peer2.process);
    const restarted = await cluster.restart(peer2);
    assert.ok(existsSync(join(restarted.dataDir, 'manager-cache.json')), 'the last answer is kept on disk');
    assert.equal(statSync(join(restarted.dataDir, 'manager-cache.json')).mode & 0o777, 0o600);
    const thirdOut = join(dir, 'out', 'peer-2-again', files[0]!.name);
    await mkdir(join(dir, 'out', 'peer-2-again'), { recursive: true });
    const third = await cluster.get(restarted, origin.url(files[0]!.name), thirdOut);
    assert.equal(third.code, 0, third.stderr);
    assert.equal(await sha256File(thirdOut), files[0]!.sha256);
    assert.ok(
      (third.json?.piecesFromParents ?? 0) > 0,
      `the restarted peer got parents from the scheduler: ${JSON.stringify(third.json)}`,
    );

    // Every download finishes byte-identical (the killed peer's own may fail: it was killed).
    for (const { peer, name, out, result } of await Promise.all(gets)) {
      if (peer === 'peer-2' && result.code !== 0) continue;
      assert.equal(result.code, 0, `${peer} ${name}: ${result.stderr}`);
      assert.equal(await sha256File(out), files.find((f) => f.name === name)!.sha256, `${peer} ${name}`);
    }
    for (const { name } of files.slice(0, 2)) {
      const out = join(dir, 'out', 'peer-1', name);
      assert.equal(await sha256File(out), files.find((f) => f.name === name)!.sha256);
    }
    // Still down (the peer restart and the gets took a while): the components stay active in memory.
    assert.equal(manager.manager.ctx.clusters.databaseUp, false);
    const components = await manager.call('GET', `/api/v1/clusters/${DEFAULT_CLUSTER_ID}/components`, {
      token,
    });
    assert.equal(components.status, 200);
    assert.equal(components.headers['warren-cache'], 'stale');
    assert.deepEqual(
      components.body.items.map((c: { id: string; state: string }) => `${c.id}:${c.state}`),
      ['scheduler:active', 'seed-1:active'],
    );
    for (const c of components.body.items) {
      assert.ok(c.last_seen_at > stoppedAt, `${c.id}: keepalives were taken during the outage`);
    }
    assert.ok((await metric(cluster.scheduler!.ops, 'warren_scheduler_hosts_connected')) >= 3);

    // The database returns: within seconds, without a restart, writes work and registrations are written.
    pg.start();
    const restartedAt = Date.now();
    await eventually(
      'a cluster can be created again',
      async () =>
        (await manager.call('POST', '/api/v1/clusters', { token, body: { name: 'after-outage' } })).status ===
        201,
      15_000,
    );
    await eventually(
      'registrations kept in memory reach the database',
      async () =>
        ((await lastSeen('scheduler')) ?? '') > stoppedAt && ((await lastSeen('seed-1')) ?? '') > stoppedAt,
      15_000,
    );
    const fresh = await manager.call('GET', '/api/v1/clusters', { token });
    assert.equal(fresh.headers['warren-cache'], undefined, 'served from the database again');
    assert.ok(fresh.body.items.some((c: { name: string }) => c.name === 'after-outage'));
    assert.ok(Date.now() - restartedAt < 15_000);
  });
});
