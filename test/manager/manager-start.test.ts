import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { databaseFactory, databaseKinds, startTestManager } from '../helpers/manager.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

after(cleanupTempDirs);

for (const { kind, skip } of databaseKinds()) {
  describe(`manager start on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('serves health, the OpenAPI document and JSON errors over HTTPS', async () => {
      const m = await startTestManager({ database: await databases.next() });
      try {
        const health = await m.call('GET', '/api/v1/health');
        assert.equal(health.status, 200);
        assert.deepEqual(health.body, { status: 'ok', database: 'up' });
        const doc = await m.call('GET', '/api/v1/openapi.json');
        assert.equal(doc.status, 200);
        assert.equal(doc.body.openapi, '3.0.3');
        assert.ok(doc.body.paths['/api/v1/health']);
        const missing = await m.call('GET', '/api/v1/no-such-thing');
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error.code, 'NOT_FOUND');
        // The CA key stays owner-only in the data folder.
        assert.equal(statSync(join(m.data, 'ca', 'ca.key')).mode & 0o777, 0o600);
      } finally {
        await m.stop();
      }
    });

    test('restarts on the same data: the schema is migrated once, the CA kept', async () => {
      const database = await databases.next();
      const first = await startTestManager({ database });
      const ca = first.caPem;
      await first.stop();
      const second = await startTestManager({ database, data: first.data });
      try {
        assert.equal(second.caPem, ca);
        assert.equal((await second.call('GET', '/api/v1/health')).status, 200);
      } finally {
        await second.stop();
      }
    });
  });
}

test('a PostgreSQL URL with a password in it is refused, naming the key', async () => {
  await assert.rejects(
    startTestManager({ database: { url: 'postgres://u:secret@127.0.0.1:1/db', passwordFile: '' } }),
    /database\.url.*password.*database\.passwordFile/,
  );
});
