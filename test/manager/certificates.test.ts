import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { createCsr } from '../../src/core/certificates.js';
import { issueCertificate, type TlsMaterial } from '../../src/core/tls.js';
import { normalizeSerial } from '../../src/core/trust.js';
import { renewCertificate } from '../../src/manager/rpc/renew.js';
import { createManagerClient } from '../../src/protocol/manager-client.js';
import { createToken, rootSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

after(cleanupTempDirs);

const DAY = 86_400_000;

/** Moves a certificate's recorded issue time `ms` back: past half-way when longer than its life. */
async function age(m: TestManager, serial: string, ms: number): Promise<void> {
  await m.manager.ctx.db
    .updateTable('certificates')
    .set({ issued_at: new Date(Date.now() - ms).toISOString() })
    .where('serial', '=', normalizeSerial(serial))
    .execute();
}

/** RenewCertificate over the manager's real mTLS RPC port, connected with `tls`. */
async function renewOverRpc(
  m: TestManager,
  tls: TlsMaterial,
  csrPem: string,
): Promise<{ certificatePem: string; caPem: string } | ConnectError> {
  const client = createManagerClient({ address: m.rpc, tls });
  try {
    return await client.renewCertificate({ csrPem }, { timeoutMs: 10_000 });
  } catch (err) {
    return ConnectError.from(err);
  } finally {
    client.close();
  }
}

async function rowCount(m: TestManager): Promise<number> {
  return (await m.manager.ctx.db.selectFrom('certificates').select('serial').execute()).length;
}

for (const { kind, skip } of databaseKinds()) {
  describe(`certificates on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    let m: TestManager;
    before(async () => {
      m = await startTestManager({ database: await databases.next() });
    });
    after(async () => {
      await m?.stop();
      databases.close();
    });

    test('renewal over the RPC keeps name, role and hosts, whatever the CSR says', async () => {
      const ca = m.manager.ctx.ca;
      const peer = await ca.issue({ name: 'peer-r', role: 'peer', hosts: ['peer-r.lan'], lifetimeMs: DAY });
      await age(m, peer.serial, 2 * DAY);
      // The request asks to be a scheduler: a peer cannot renew into one.
      const { csrPem } = await createCsr('scheduler-1');
      const answer = await renewOverRpc(m, peer, csrPem);
      assert.ok(!(answer instanceof ConnectError), String(answer));
      const cert = new X509Certificate(answer.certificatePem);
      assert.match(cert.subject, /^CN=peer-r\nOU=peer\nO=warren$/);
      assert.match(cert.subjectAltName ?? '', /DNS:peer-r\.lan/);
      assert.match(cert.subjectAltName ?? '', /URI:spiffe:\/\/warren\/peer\/peer-r/);
      assert.equal(answer.caPem, m.caPem);
      assert.notEqual(normalizeSerial(cert.serialNumber), peer.serial);
      // The default component lifetime: 7 days.
      const life = Date.parse(cert.validTo) - Date.now();
      assert.ok(life > 7 * DAY - 5 * 60_000 && life <= 7 * DAY, `life ${life} ms`);
      const row = await ca.certificate(cert.serialNumber);
      assert.deepEqual([row?.name, row?.role, row?.hosts], ['peer-r', 'peer', '["peer-r.lan"]']);
      const audit = await m.manager.ctx.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'certificate.renew')
        .where('target', '=', row!.serial)
        .executeTakeFirst();
      assert.equal(audit?.actor, 'peer:peer-r');
      assert.match(audit?.detail ?? '', new RegExp(peer.serial));
    });

    test('renewal refuses young, revoked, expired and foreign certificates, and manager or client roles', async () => {
      const ctx = m.manager.ctx;
      const { csrPem } = await createCsr('x');
      const callerOf = (tls: TlsMaterial) => {
        const cert = new X509Certificate(tls.cert);
        const [, name, role] = /^CN=(.*)\nOU=(.*)\n/.exec(cert.subject)!;
        return { name: name!, role: role!, serial: cert.serialNumber };
      };
      const refused = async (tls: TlsMaterial, pattern: RegExp, code: Code) => {
        const before = await rowCount(m);
        await assert.rejects(renewCertificate(ctx, callerOf(tls), csrPem), (err: unknown) => {
          const e = ConnectError.from(err);
          assert.equal(e.code, code, e.message);
          assert.match(e.message, pattern);
          return true;
        });
        assert.equal(await rowCount(m), before, 'no certificate was issued');
      };

      const young = await ctx.ca.issue({ name: 'peer-young', role: 'peer', lifetimeMs: DAY });
      await refused(young, /renewable from .*half-way/, Code.FailedPrecondition);
      assert.ok((await renewOverRpc(m, young, csrPem)) instanceof ConnectError);

      const revoked = await ctx.ca.issue({ name: 'peer-revoked', role: 'peer', lifetimeMs: DAY });
      await age(m, revoked.serial, 2 * DAY);
      await ctx.ca.revoke(revoked.serial, 'test');
      await refused(revoked, /is revoked/, Code.PermissionDenied);
      const before = await rowCount(m);
      const overRpc = await renewOverRpc(m, revoked, csrPem);
      assert.ok(overRpc instanceof ConnectError, 'a revoked certificate cannot renew over the RPC');
      assert.equal(await rowCount(m), before);

      const expired = await ctx.ca.issue({ name: 'peer-expired', role: 'peer', lifetimeMs: -1000 });
      await refused(expired, /expired/, Code.PermissionDenied);

      // Signed by the CA's key but never recorded (made offline with `warren ca issue`).
      const foreign = await issueCertificate(join(m.data, 'ca'), { role: 'peer', name: 'peer-offline' });
      await refused(foreign, /not issued by this manager/, Code.PermissionDenied);

      await refused(ctx.tls, /role 'manager' cannot be renewed/, Code.PermissionDenied);
      const client = await ctx.ca.issue({ name: 'cli', role: 'client', lifetimeMs: DAY });
      await age(m, client.serial, 2 * DAY);
      await refused(client, /role 'client' cannot be renewed/, Code.PermissionDenied);
      assert.ok((await renewOverRpc(m, client, csrPem)) instanceof ConnectError);

      // A CSR without proof of possession.
      const peer = await ctx.ca.issue({ name: 'peer-csr', role: 'peer', lifetimeMs: DAY });
      await age(m, peer.serial, 2 * DAY);
      await assert.rejects(renewCertificate(ctx, callerOf(peer), 'garbage'), (err: unknown) => {
        assert.equal(ConnectError.from(err).code, Code.InvalidArgument);
        return true;
      });
    });

    test('revocation over REST: scoped, audited, idempotent, and in revokedSerials until expiry', async () => {
      const ctx = m.manager.ctx;
      const root = await rootSession(m);
      const cluster = await createToken(m, root, ['cluster', 'read']);
      const reader = await createToken(m, root, ['read']);
      const a = await ctx.ca.issue({ name: 'seed-a', role: 'seed', lifetimeMs: DAY });
      const b1 = await ctx.ca.issue({ name: 'peer-b', role: 'peer', lifetimeMs: DAY });
      const b2 = await ctx.ca.issue({ name: 'peer-b', role: 'peer', lifetimeMs: DAY });
      const gone = await ctx.ca.issue({ name: 'peer-gone', role: 'peer', lifetimeMs: -1000 });

      const path = `/api/v1/certificates/${a.serial}/revoke`;
      assert.equal((await m.call('POST', path)).status, 401);
      assert.equal((await m.call('POST', path, { token: reader.token })).status, 403);
      assert.equal((await ctx.ca.certificate(a.serial))?.revoked_at, null, 'refusals changed nothing');

      const first = await m.call('POST', path, { token: cluster.token });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.changed, true);
      assert.equal(first.body.certificate.revoked_by, 'root');
      // Serials are matched in any case (TLS libraries print them upper-case).
      const again = await m.call('POST', `/api/v1/certificates/${a.serial.toUpperCase()}/revoke`, {
        token: cluster.token,
      });
      assert.equal(again.status, 200);
      assert.equal(again.body.changed, false);

      const byName = await m.call('POST', '/api/v1/certificates/revoke', {
        token: cluster.token,
        body: { name: 'peer-b' },
      });
      assert.equal(byName.status, 200);
      assert.deepEqual([...byName.body.revoked].sort(), [b1.serial, b2.serial].sort());
      await ctx.ca.revoke(gone.serial, 'test');

      const revoked = await ctx.ca.revokedSerials();
      for (const serial of [a.serial, b1.serial, b2.serial]) assert.ok(revoked.includes(serial), serial);
      assert.ok(
        !revoked.includes(gone.serial),
        'an expired certificate is not listed: TLS refuses it anyway',
      );

      const audits = await ctx.db
        .selectFrom('audit_log')
        .select(['action', 'target'])
        .where('action', 'like', 'certificate.revoke%')
        .execute();
      assert.deepEqual(
        audits.map((r) => `${r.action} ${r.target}`).sort(),
        [`certificate.revoke ${a.serial}`, 'certificate.revoke_name peer-b'].sort(),
      );

      const manager = await m.call(
        'POST',
        `/api/v1/certificates/${new X509Certificate(ctx.tls.cert).serialNumber}/revoke`,
        {
          token: cluster.token,
        },
      );
      assert.equal(manager.status, 400);
      assert.equal(manager.body.error.code, 'CANNOT_REVOKE_MANAGER');
      const unknown = await m.call('POST', '/api/v1/certificates/abc123/revoke', { token: cluster.token });
      assert.equal(unknown.status, 404);

      // Listing: a read token may, newest first, by name, in pages.
      const page1 = await m.call('GET', '/api/v1/certificates?name=peer-b&limit=1', { token: reader.token });
      assert.equal(page1.status, 200);
      assert.equal(page1.body.items.length, 1);
      assert.ok(page1.body.next_cursor);
      const page2 = await m.call(
        'GET',
        `/api/v1/certificates?name=peer-b&limit=1&cursor=${page1.body.next_cursor}`,
        { token: reader.token },
      );
      assert.equal(page2.body.items.length, 1);
      assert.equal(page2.body.next_cursor, null);
      assert.deepEqual(
        [page1.body.items[0].serial, page2.body.items[0].serial].sort(),
        [b1.serial, b2.serial].sort(),
      );
      assert.ok(page2.body.items[0].revoked_at);
    });
  });
}
