import assert from 'node:assert/strict';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { createCsr } from '../../src/core/certificates.js';
import { loadConfig } from '../../src/core/config.js';
import { loadTlsDir, type TlsMaterial } from '../../src/core/tls.js';
import { createSchedulerClient } from '../../src/protocol/scheduler-client.js';
import { SchedulerConfigSchema } from '../../src/scheduler/config.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ROOT_PASSWORD, rootSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { runWarren } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

after(cleanupTempDirs);

const DAY = 86_400_000;

/** A join token made through the REST API by root; returns its secret and id. */
async function joinToken(m: TestManager, session: string): Promise<{ token: string; id: string }> {
  const made = await m.call('POST', '/api/v1/tokens', {
    token: session,
    body: { name: 'join', scopes: ['enroll'], expires_in: '1h' },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return { token: made.body.token, id: made.body.id };
}

function tokenFile(token: string): string {
  const file = join(tempDir('warren-join-'), 'token');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return file;
}

function enrollCli(m: TestManager, file: string, tlsDir: string, extra: string[]) {
  return runWarren(
    ['enroll', '--manager', m.api, '--token-file', file, '--tls-dir', tlsDir, '--json', ...extra],
    { timeoutMs: 60_000 },
  );
}

async function certificateCount(m: TestManager): Promise<number> {
  const rows = await m.manager.ctx.db.selectFrom('certificates').select('serial').execute();
  return rows.length;
}

async function enrolAudits(m: TestManager): Promise<number> {
  const rows = await m.manager.ctx.db
    .selectFrom('audit_log')
    .select('id')
    .where('action', '=', 'certificate.enroll')
    .execute();
  return rows.length;
}

/** Calls StatTask with `tls`: NotFound means the scheduler accepted the certificate and the role. */
async function schedulerAnswer(address: string, tls: TlsMaterial): Promise<Code | 'ok'> {
  const client = createSchedulerClient({ address, tls });
  try {
    await client.statTask({ taskId: 'a'.repeat(64) });
    return 'ok';
  } catch (err) {
    return ConnectError.from(err).code;
  } finally {
    client.close();
  }
}

for (const { kind, skip } of databaseKinds()) {
  describe(`enrolment on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    let m: TestManager;
    let root: string;
    before(async () => {
      m = await startTestManager({ database: await databases.next() });
      root = await rootSession(m);
    });
    after(async () => {
      await m?.stop();
      databases.close();
    });

    test('GET /api/v1/ca is public; its fingerprint is the SHA-256 of the DER', async () => {
      const res = await m.call('GET', '/api/v1/ca');
      assert.equal(res.status, 200);
      assert.equal(res.body.certificate, m.caPem);
      const der = new X509Certificate(res.body.certificate).raw;
      assert.equal(res.body.fingerprint, createHash('sha256').update(der).digest('hex'));
    });

    test('warren enroll writes a 7-day peer certificate that a scheduler of the same CA accepts', async () => {
      const { token } = await joinToken(m, root);
      const tlsDir = join(tempDir('warren-enrolled-'), 'tls');
      const run = await enrollCli(m, tokenFile(token), tlsDir, ['--role', 'peer', '--name', 'peer-a']);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
      assert.equal(result.name, 'peer-a');

      const material = loadTlsDir(tlsDir);
      assert.equal(statSync(join(tlsDir, 'tls.key')).mode & 0o777, 0o600);
      assert.equal(material.ca, m.caPem);
      const cert = new X509Certificate(material.cert);
      assert.match(cert.subject, /^CN=peer-a\nOU=peer\nO=warren$/);
      assert.ok(cert.verify(new X509Certificate(m.caPem).publicKey));
      const life = Date.parse(cert.validTo) - Date.now();
      assert.ok(life > 7 * DAY - 5 * 60_000 && life <= 7 * DAY, `life ${life} ms`);
      // The key was made by the CLI: nothing but the certificate came from the manager.
      assert.ok(cert.checkPrivateKey(createPrivateKey(material.key)));
      assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${hostname().replaceAll('.', '\\.')}`));

      const row = await m.manager.ctx.ca.certificate(cert.serialNumber);
      assert.equal(row?.name, 'peer-a');
      assert.equal(row?.role, 'peer');
      const audit = await m.manager.ctx.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'certificate.enroll')
        .where('target', '=', row!.serial)
        .executeTakeFirst();
      assert.equal(audit?.actor, 'root');
      assert.doesNotMatch(audit?.detail ?? '', /wrj_/, 'the join token itself is never in the audit log');

      // Usable: a scheduler with a certificate from the same CA accepts it.
      const schedulerTls = await m.manager.ctx.ca.issue({
        name: 'scheduler-1',
        role: 'scheduler',
        lifetimeMs: DAY,
      });
      const config = loadConfig(SchedulerConfigSchema, {
        env: {},
        flags: { listen: '127.0.0.1:0', opsListen: '127.0.0.1:0' },
      });
      const scheduler = new Scheduler({ config, tls: schedulerTls });
      await scheduler.start();
      try {
        assert.equal(await schedulerAnswer(scheduler.addresses.listen, material), Code.NotFound);
      } finally {
        await scheduler.stop();
      }
    });

    test('the token may come from WARREN_JOIN_TOKEN; default name <role>-<hostname>; again needs --force', async () => {
      const { token } = await joinToken(m, root);
      const tlsDir = join(tempDir('warren-enrolled-'), 'tls');
      const args = ['enroll', '--manager', m.api, '--tls-dir', tlsDir, '--role', 'seed'];
      const none = await runWarren(args, { env: { WARREN_JOIN_TOKEN: '' } });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no join token: pass --token-file FILE or --token-stdin/);
      const run = await runWarren(args, { env: { WARREN_JOIN_TOKEN: token } });
      assert.equal(run.code, 0, run.stderr);
      const file = tokenFile(token);
      const name = `seed-${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}`.slice(0, 63);
      assert.match(new X509Certificate(loadTlsDir(tlsDir).cert).subject, new RegExp(`^CN=${name}\nOU=seed`));
      const before = readFileSync(join(tlsDir, 'tls.crt'), 'utf8');
      const again = await enrollCli(m, file, tlsDir, ['--role', 'seed']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already holds a certificate.*--force/);
      assert.equal(readFileSync(join(tlsDir, 'tls.crt'), 'utf8'), before);
    });

    test('a join token of another manager is refused by the CLI before it is sent; nothing is written', async () => {
      // The token pins manager A's CA; the URL points at manager B (a stand-in
      // for someone in between): B's CA does not match, so the CLI stops.
      const { token } = await joinToken(m, root);
      const other = await startTestManager();
      try {
        const certificatesBefore = await certificateCount(other);
        const parent = tempDir('warren-enrolled-');
        const tlsDir = join(parent, 'tls');
        const run = await enrollCli(other, tokenFile(token), tlsDir, ['--role', 'peer', '--name', 'peer-b']);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /does not have the fingerprint in the join token.*nothing was written/);
        assert.match(run.stderr, /CA_FINGERPRINT_MISMATCH/);
        assert.equal(existsSync(tlsDir), false);
        assert.deepEqual(readdirSync(parent), []);
        assert.equal(await certificateCount(other), certificatesBefore);
        const attempts = await other.manager.ctx.db
          .selectFrom('audit_log')
          .select('id')
          .where('action', 'like', 'certificate.%')
          .execute();
        assert.equal(attempts.length, 0);
      } finally {
        await other.stop();
      }
    });

    test('a component posing as the manager (a certificate of the same CA) never receives the token', async () => {
      // A peer's certificate names localhost too; the CA it serves is the real one,
      // so the fingerprint matches. The enrol request must still not go to it.
      const { token } = await joinToken(m, root);
      const impostor = await m.manager.ctx.ca.issue({ name: 'peer-imp', role: 'peer', lifetimeMs: DAY });
      const received: string[] = [];
      const server = createHttpsServer({ cert: impostor.cert, key: impostor.key }, (req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => {
          body += chunk.toString('utf8');
        });
        req.on('end', () => {
          received.push(`${req.method} ${req.url} ${body}`);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ certificate: m.caPem, fingerprint: m.manager.ctx.ca.fingerprint }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const fake = { ...m, api: `https://127.0.0.1:${port}` } as TestManager;
        const tlsDir = join(tempDir('warren-enrolled-'), 'tls');
        const run = await enrollCli(fake, tokenFile(token), tlsDir, ['--role', 'peer', '--name', 'peer-i']);
        assert.equal(run.code, 1);
        assert.match(run.stderr, /presents a 'peer' certificate, not a manager's/);
        assert.deepEqual(received, ['GET /api/v1/ca '], 'only the CA was asked for; the token never left');
        assert.equal(existsSync(tlsDir), false);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    test('unknown, malformed, expired and revoked join tokens answer 401 and record nothing', async () => {
      const expired = await joinToken(m, root);
      await m.manager.ctx.db
        .updateTable('tokens')
        .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
        .where('id', '=', expired.id)
        .execute();
      const revoked = await joinToken(m, root);
      const revoke = await m.call('DELETE', `/api/v1/tokens/${revoked.id}`, { token: root });
      assert.equal(revoke.status, 200);
      // A login session is not a join token either.
      const login = await m.call('POST', '/api/v1/auth/login', {
        body: { name: 'root', password: ROOT_PASSWORD },
      });
      const session = login.body.token as string;
      const pat = await m.call('POST', '/api/v1/tokens', {
        token: root,
        body: { name: 'pat', scopes: ['cluster'], expires_in: '1h' },
      });
      const unknown = `wrj_${'A'.repeat(43)}_${m.manager.ctx.ca.fingerprint}`;

      const certificates = await certificateCount(m);
      const audits = await enrolAudits(m);
      const { csrPem } = await createCsr('peer-x');
      for (const token of [unknown, 'not-a-token', expired.token, revoked.token, session, pat.body.token]) {
        const res = await m.call('POST', '/api/v1/enroll', {
          body: { token, role: 'peer', name: 'peer-x', csr: csrPem },
        });
        assert.equal(res.status, 401, `${token.slice(0, 8)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'UNAUTHENTICATED');
      }
      assert.equal(await certificateCount(m), certificates);
      assert.equal(await enrolAudits(m), audits);
    });

    test("bad CSRs, names and roles answer 400; a name held by another role 409; the CSR's subject is ignored", async () => {
      const { token } = await joinToken(m, root);
      const { csrPem } = await createCsr('scheduler-evil');
      const enrol = (body: Record<string, unknown>) =>
        m.call('POST', '/api/v1/enroll', {
          body: { token, role: 'peer', name: 'peer-c', csr: csrPem, ...body },
        });

      const certificates = await certificateCount(m);
      const tampered = tamper(csrPem);
      for (const [body, code] of [
        [{ csr: 'garbage' }, 'BAD_CSR'],
        [{ csr: tampered }, 'BAD_CSR'],
        [{ name: '../etc' }, 'BAD_REQUEST'],
        [{ name: 'x'.repeat(64) }, 'BAD_REQUEST'],
        [{ role: 'manager' }, 'BAD_REQUEST'],
        [{ role: 'client' }, 'BAD_REQUEST'],
        [{ hosts: ['not a host!'] }, 'BAD_HOSTS'],
      ] as const) {
        const res = await enrol(body);
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, code);
      }
      assert.equal(await certificateCount(m), certificates);

      // The request said CN=scheduler-evil: the certificate names what the enrolment said.
      const ok = await enrol({ hosts: ['peer-c.lan', '10.0.0.7'] });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const cert = new X509Certificate(ok.body.certificate);
      assert.match(cert.subject, /^CN=peer-c\nOU=peer\nO=warren$/);
      assert.match(cert.subjectAltName ?? '', /DNS:peer-c\.lan/);
      assert.match(cert.subjectAltName ?? '', /IP Address:10\.0\.0\.7/);
      assert.match(cert.subjectAltName ?? '', /URI:spiffe:\/\/warren\/peer\/peer-c/);

      // The same name as another role is refused while the first certificate lives.
      const clash = await enrol({ role: 'scheduler' });
      assert.equal(clash.status, 409);
      assert.equal(clash.body.error.code, 'NAME_TAKEN');
      // The same role again is fine (a reinstalled component).
      assert.equal((await enrol({})).status, 200);
    });
  });
}

/** Flips one byte of the CSR's signed part: its signature no longer checks out. */
function tamper(csrPem: string): string {
  const lines = csrPem.trim().split('\n');
  const der = Buffer.from(lines.slice(1, -1).join(''), 'base64');
  const at = der.indexOf('scheduler-evil');
  der[at] = 'S'.charCodeAt(0);
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}
