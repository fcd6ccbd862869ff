import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createToken, rootSession } from '../helpers/auth.js';
import { startTestManager } from '../helpers/manager.js';
import { runWarren } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/* `warren cluster ls|show` and `warren cert ls|revoke` against a real manager, token from WARREN_TOKEN. */
describe('cluster and certificate CLI', () => {
  after(cleanupTempDirs);

  test('lists clusters, shows one, lists and revokes certificates; a read token cannot revoke', async () => {
    const m = await startTestManager();
    try {
      const home = tempDir('warren-cli-home-');
      const caFile = join(home, 'ca.crt');
      writeFileSync(caFile, m.caPem);
      const session = await rootSession(m);
      const admin = await createToken(m, session, ['read', 'cluster']);
      const reader = await createToken(m, session, ['read']);
      const issued = await m.manager.ctx.ca.issue({ name: 'peer-cli', role: 'peer', lifetimeMs: 86_400_000 });
      const warren = (args: string[], token: string) =>
        runWarren([...args, '--manager', m.api, '--ca-file', caFile], {
          env: { WARREN_TOKEN: token, XDG_CONFIG_HOME: home },
        });

      const ls = await warren(['cluster', 'ls', '--json'], admin.token);
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(
        JSON.parse(ls.stdout).map((c: { name: string }) => c.name),
        ['default'],
      );
      const show = await warren(['cluster', 'show', 'cls_default'], admin.token);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^default \(cls_default\)/);

      const certs = await warren(['cert', 'ls', '--name', 'peer-cli', '--json'], reader.token);
      assert.equal(certs.code, 0, certs.stderr);
      const [row] = JSON.parse(certs.stdout) as Array<{ serial: string; revoked_at: string | null }>;
      assert.equal(row?.serial, issued.serial);
      assert.equal(row?.revoked_at, null);

      const denied = await warren(['cert', 'revoke', issued.serial], reader.token);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /lacks the 'cluster' scope.*\[FORBIDDEN\]/);
      assert.equal((await m.manager.ctx.ca.certificate(issued.serial))?.revoked_at, null, 'nothing changed');

      const revoked = await warren(['cert', 'revoke', issued.serial], admin.token);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.notEqual((await m.manager.ctx.ca.certificate(issued.serial))?.revoked_at, null);
    } finally {
      await m.stop();
    }
  });
});
