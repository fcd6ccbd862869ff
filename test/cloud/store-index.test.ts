import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StoreIndexClient } from '../../src/cloud/apps/store-index.js';
import { type CloudDb, openCloudDatabase } from '../../src/cloud/db/database.js';
import { silentLogger } from '../../src/core/log.js';
import { generateMaintainerKey, rawPublicKey } from '../../src/core/release/keys.js';
import { type IndexApp, MAX_INDEX_BYTES, signIndex } from '../../src/core/release/store-index.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { type CloudDatabaseKind, cloudDatabaseKinds, stopCloudPostgres } from './helpers-auth.js';

/*
 * The instance's store index client against a real HTTPS server (a
 * certificate from a test CA the client trusts) and a real database: the
 * pinned store key, rollback, freeze, fork and bad signatures refused with
 * their codes, the last good index kept, and the body bound.
 */

const storeKey = generateMaintainerKey();
const otherKey = generateMaintainerKey();
const HOUR = 3_600_000;
const apps: IndexApp[] = [
  {
    id: 'hello',
    maintainer_key: rawPublicKey(generateMaintainerKey().privateKey).toString('base64'),
    official: true,
    versions: [{ version: '1.0.0', sha256: 'c'.repeat(64), yanked: false }],
  },
];

function index(
  serial: number,
  options: { key?: typeof storeKey; expiresIn?: number; apps?: IndexApp[] } = {},
) {
  const now = Date.now();
  return signIndex(
    {
      serial,
      issuedAt: new Date(now - 1000),
      expiresAt: new Date(now + (options.expiresIn ?? HOUR)),
      apps: options.apps ?? apps,
    },
    (options.key ?? storeKey).privateKey,
  );
}

describe('store index client', () => {
  let ca: TestCa;
  let server: Server;
  let url: string;
  let body: string | (() => string) = '';
  let requests = 0;
  let delayMs = 0;
  let pg: TestPostgres | undefined;

  before(async () => {
    const dir = tempDir('warren-store-index-');
    ca = await makeTestCa(dir);
    const cert = await ca.issue('store', 'store', { hosts: ['127.0.0.1'] });
    server = createServer({ cert: cert.material.cert, key: cert.material.key }, (req, res) => {
      requests++;
      const text = typeof body === 'function' ? body() : body;
      setTimeout(() => {
        if (req.url !== '/api/v1/index') return res.writeHead(404).end('{}');
        res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      }, delayMs);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    server?.close();
    pg?.close();
    await stopCloudPostgres();
    cleanupTempDirs();
  });

  async function open(kind: CloudDatabaseKind): Promise<CloudDb> {
    let database = { url: '', passwordFile: '' };
    if (kind === 'postgres') {
      pg ??= await startPostgres();
      database = { url: await pg.createDatabase(), passwordFile: pg.passwordFile };
    }
    return openCloudDatabase(
      {
        data: tempDir('warren-store-index-db-'),
        database: { ...database, sslMode: 'disable', caFile: '', poolSize: 4, timeoutMs: 10_000 },
      },
      silentLogger(),
    );
  }

  const client = (db: CloudDb, caPem = ca.caPem) =>
    new StoreIndexClient({
      db: db.db,
      log: silentLogger(),
      storeUrl: url,
      storeKey: rawPublicKey(storeKey.privateKey),
      caPem,
      timeoutMs: 5_000,
    });

  async function refused(c: StoreIndexClient): Promise<{ code: string; status: number; message: string }> {
    try {
      await c.refresh();
    } catch (err) {
      const e = err as { code: string; status: number; message: string };
      return { code: e.code, status: e.status, message: e.message };
    }
    return { code: 'accepted', status: 200, message: '' };
  }

  for (const { kind, skip } of cloudDatabaseKinds()) {
    describe(kind, { skip: kind === 'postgres' ? (skip ?? requirePostgres()) : skip }, () => {
      it('accepts an index signed by the pinned key and keeps it with its serial', async () => {
        const db = await open(kind);
        const c = client(db);
        try {
          assert.equal(await c.lastAccepted(), undefined, 'nothing accepted before the first fetch');
          body = index(5);
          const accepted = await c.refresh();
          assert.equal(accepted.index.serial, 5);
          assert.equal(accepted.index.apps[0]!.id, 'hello');
          const row = await db.db.selectFrom('store_state').selectAll().executeTakeFirstOrThrow();
          assert.equal(Number(row.serial), 5);
          assert.equal(row.envelope, body);
          assert.equal(row.digest, accepted.seen.digest);
          assert.equal((await c.lastAccepted())?.index.serial, 5);
          body = index(6);
          assert.equal((await c.refresh()).index.serial, 6, 'a newer serial replaces it');
        } finally {
          await c.close();
          await db.close();
        }
      });

      it('refuses rollback, fork, freeze and a bad signature with their codes, keeping the last good one', async () => {
        const db = await open(kind);
        const c = client(db);
        try {
          const first = index(10);
          body = first;
          const good = await c.refresh();
          const cases: Array<[string, string]> = [
            [index(9), 'INDEX_ROLLBACK'],
            [index(10, { apps: [] }), 'INDEX_FORK'],
            [index(11, { expiresIn: -1000 }), 'INDEX_EXPIRED'],
            [index(12, { key: otherKey }), 'INDEX_SIGNATURE_INVALID'],
            ['{"signed":"x"}', 'INDEX_MALFORMED'],
            ['not json', 'INDEX_MALFORMED'],
          ];
          for (const [text, code] of cases) {
            body = text;
            const refusal = await refused(c);
            assert.equal(refusal.code, code, refusal.message);
            assert.equal(refusal.status, 502);
            assert.equal(c.lastError?.code, code);
            const row = await db.db.selectFrom('store_state').selectAll().executeTakeFirstOrThrow();
            assert.equal(Number(row.serial), 10, `${code}: the last good index stays`);
            assert.equal(row.digest, good.seen.digest);
          }
          body = first;
          assert.equal((await c.refresh()).index.serial, 10, 'the same index again is fine');
          assert.equal(c.lastError, undefined);
        } finally {
          await c.close();
          await db.close();
        }
      });
    });
  }

  it('bounds the body, refuses an untrusted certificate, and shares one fetch between concurrent callers', async () => {
    const db = await open('sqlite');
    const c = client(db);
    const untrusting = client(db, (await makeTestCa(tempDir('warren-other-ca-'))).caPem);
    try {
      body = `{"signed":"${'x'.repeat(MAX_INDEX_BYTES)}","signature":""}`;
      const big = await refused(c);
      assert.equal(big.code, 'STORE_RESPONSE_TOO_LARGE', big.message);

      body = index(20);
      const untrusted = await refused(untrusting);
      assert.equal(untrusted.code, 'STORE_UNREACHABLE', untrusted.message);
      assert.equal(await untrusting.lastAccepted(), undefined, 'nothing was accepted');

      requests = 0;
      delayMs = 200;
      const all = await Promise.all([c.refresh(), c.refresh(), c.refresh()]);
      assert.deepEqual(
        all.map((a) => a.index.serial),
        [20, 20, 20],
      );
      assert.equal(requests, 1, 'one request for three callers');
    } finally {
      delayMs = 0;
      await c.close();
      await untrusting.close();
      await db.close();
    }
  });
});
