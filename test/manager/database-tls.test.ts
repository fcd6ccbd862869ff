import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { startTestManager } from '../helpers/manager.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { makeTestCa } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * Threat 3's recommendation: TLS between the manager and PostgreSQL. The
 * private server gets a certificate from a test CA; the manager connects with
 * sslMode verify-full and that CA, and refuses a server its CA did not sign.
 */
describe('manager to PostgreSQL over TLS', { skip: requirePostgres() }, () => {
  let pg: TestPostgres | undefined;
  after(() => {
    pg?.close();
    cleanupTempDirs();
  });

  test('verify-full connects over TLS; a server from another CA is refused', async () => {
    const dir = tempDir('warren-pgtls-');
    const ca = await makeTestCa(join(dir, 'pki'));
    const other = await makeTestCa(join(dir, 'other'));
    const server = await ca.issue('client', 'postgres', { hosts: ['127.0.0.1'] });
    pg = await startPostgres({ tls: { cert: server.material.cert, key: server.material.key } });
    const url = await pg.createDatabase();
    const caFile = join(dir, 'db-ca.crt');
    writeFileSync(caFile, ca.caPem);

    const m = await startTestManager({
      database: { url, passwordFile: pg.passwordFile },
      flags: { 'database.sslMode': 'verify-full', 'database.caFile': caFile },
    });
    try {
      const { rows } = await sql<{
        ssl: boolean;
      }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(m.manager.ctx.db);
      assert.deepEqual(rows, [{ ssl: true }], 'the connection is encrypted');
      assert.equal((await m.call('GET', '/api/v1/health')).body.database, 'up');
    } finally {
      await m.stop();
    }

    const wrongCa = join(dir, 'wrong-ca.crt');
    writeFileSync(wrongCa, other.caPem);
    await assert.rejects(
      startTestManager({
        database: { url, passwordFile: pg.passwordFile },
        flags: { 'database.sslMode': 'verify-full', 'database.caFile': wrongCa },
      }),
      /certificate|self-signed|unable to verify/i,
    );
  });
});
