import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { isWarrenError } from './errors.js';
import {
  certificateName,
  expectRole,
  identityOf,
  initCa,
  issueCertificate,
  loadTlsDir,
  TLS_FILES,
  type TlsMaterial,
  writeTlsDir,
} from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-tls-'));
const caDir = join(dir, 'ca');
const otherCaDir = join(dir, 'other-ca');
const mode = (path: string) => statSync(path).mode & 0o777;

before(async () => {
  await initCa(caDir);
  await initCa(otherCaDir, { name: 'Someone else' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('initCa', () => {
  test('writes a self-signed CA certificate and a 0600 key', () => {
    const ca = new X509Certificate(readFileSync(join(caDir, TLS_FILES.ca)));
    assert.ok(ca.ca);
    assert.ok(ca.verify(ca.publicKey));
    assert.equal(mode(join(caDir, TLS_FILES.caKey)), 0o600);
    assert.equal(mode(caDir), 0o700);
  });

  test('refuses to overwrite an existing CA', async () => {
    const before = readFileSync(join(caDir, TLS_FILES.caKey), 'utf8');
    await assert.rejects(initCa(caDir), (err: unknown) => isWarrenError(err, 'CA_EXISTS'));
    assert.equal(readFileSync(join(caDir, TLS_FILES.caKey), 'utf8'), before);
  });
});

describe('issueCertificate', () => {
  let material: TlsMaterial;
  let cert: X509Certificate;
  let ca: X509Certificate;
  before(async () => {
    material = await issueCertificate(caDir, {
      role: 'peer',
      name: 'peer-1',
      hosts: ['10.1.2.3', 'node-a.lan'],
    });
    cert = new X509Certificate(material.cert);
    ca = new X509Certificate(material.ca);
  });

  test('is signed by its CA and by no other', () => {
    assert.ok(cert.verify(ca.publicKey));
    assert.ok(cert.checkIssued(ca));
    const other = new X509Certificate(readFileSync(join(otherCaDir, TLS_FILES.ca)));
    assert.ok(!cert.verify(other.publicKey));
    assert.ok(!cert.checkIssued(other));
    assert.ok(!cert.ca);
  });

  test('names the component and its role, and covers loopback and the extra hosts', () => {
    assert.equal(certificateName(material.cert), 'peer-1');
    assert.match(cert.subject, /OU=peer/);
    const san = cert.subjectAltName ?? '';
    for (const expected of [
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:10.1.2.3',
      'DNS:node-a.lan',
    ]) {
      assert.ok(san.includes(expected), `${san} lacks ${expected}`);
    }
    assert.ok(san.includes('URI:spiffe://warren/peer/peer-1'));
    assert.ok(cert.checkIP('127.0.0.1'));
  });

  test('is valid for the days asked', async () => {
    const short = new X509Certificate(
      (await issueCertificate(caDir, { role: 'client', name: 'c', days: 2 })).cert,
    );
    const days = (Date.parse(short.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 1.9 && days <= 2, `${days}`);
  });

  test('rejects a name that is not a plain label', async () => {
    for (const name of ['', '../x', 'a b', 'x'.repeat(64), 'CN=evil,O=x']) {
      await assert.rejects(issueCertificate(caDir, { role: 'peer', name }), (err: unknown) =>
        isWarrenError(err, 'BAD_NAME'),
      );
    }
  });

  test('fails clearly without a CA', async () => {
    await assert.rejects(issueCertificate(join(dir, 'none'), { role: 'peer', name: 'x' }), (err: unknown) =>
      isWarrenError(err, 'TLS_MISSING'),
    );
  });

  test('writeTlsDir writes the key 0600 and loadTlsDir reads back the same', () => {
    const tlsDir = join(dir, 'peer-1');
    writeTlsDir(tlsDir, material);
    assert.equal(mode(join(tlsDir, TLS_FILES.key)), 0o600);
    assert.deepEqual(loadTlsDir(tlsDir), material);
  });
});

describe('mutual TLS with issued certificates', () => {
  async function handshake(
    server: TlsMaterial,
    client: Partial<TlsMaterial> & { ca: string; checkServerIdentity?: ReturnType<typeof expectRole> },
  ) {
    const seen: { identity?: ReturnType<typeof identityOf> } = {};
    const srv = createServer(
      { ca: server.ca, cert: server.cert, key: server.key, requestCert: true, rejectUnauthorized: true },
      (socket: TLSSocket) => {
        seen.identity = identityOf(socket);
        socket.end('hi');
      },
    );
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const port = (srv.address() as { port: number }).port;
    try {
      // With TLS 1.3 the server checks the client's certificate after the
      // client has finished its side, so a refusal shows as an alert or a
      // closed connection without data rather than a failed connect().
      return await new Promise<{ data: string; identity?: ReturnType<typeof identityOf>; error?: Error }>(
        (ok) => {
          const socket = connect({
            host: '127.0.0.1',
            port,
            ca: client.ca,
            cert: client.cert,
            key: client.key,
            servername: 'localhost',
            ...(client.checkServerIdentity ? { checkServerIdentity: client.checkServerIdentity } : {}),
          });
          let data = '';
          socket.setEncoding('utf8').on('data', (d: string) => {
            data += d;
          });
          socket.on('close', () => ok({ data, identity: seen.identity }));
          socket.on('error', (error) => ok({ data, identity: seen.identity, error }));
        },
      );
    } finally {
      srv.close();
    }
  }

  test('a client with a certificate from the CA is accepted and identified', async () => {
    const server = await issueCertificate(caDir, { role: 'scheduler', name: 'sched' });
    const client = await issueCertificate(caDir, { role: 'seed', name: 'seed-1' });
    const result = await handshake(server, client);
    assert.equal(result.data, 'hi');
    assert.deepEqual(result.identity, { name: 'seed-1', role: 'seed' });
  });

  test('a client with a certificate from another CA is refused in the handshake', async () => {
    const server = await issueCertificate(caDir, { role: 'scheduler', name: 'sched' });
    const stranger = await issueCertificate(otherCaDir, { role: 'peer', name: 'mallory' });
    const result = await handshake(server, { ...stranger, ca: server.ca });
    assert.equal(result.data, '');
    assert.equal(result.identity, undefined);
  });

  test('a client without a certificate is refused', async () => {
    const server = await issueCertificate(caDir, { role: 'scheduler', name: 'sched' });
    const result = await handshake(server, { ca: server.ca });
    assert.match(String(result.error), /certificate|reset|closed/i);
    assert.equal(result.data, '');
    assert.equal(result.identity, undefined);
  });

  test('a server with a certificate from another CA is refused by the client', async () => {
    const stranger = await issueCertificate(otherCaDir, { role: 'scheduler', name: 'fake' });
    const client = await issueCertificate(caDir, { role: 'peer', name: 'p' });
    const result = await handshake({ ...stranger, ca: client.ca }, client);
    assert.equal(result.data, '');
    assert.match(String(result.error), /certificate/i);
  });

  test('a component certificate cannot stand in for a scheduler or the manager (expectRole)', async () => {
    const client = await issueCertificate(caDir, { role: 'peer', name: 'p' });
    const impostor = await issueCertificate(caDir, { role: 'peer', name: 'not-a-scheduler' });
    const refused = await handshake(impostor, { ...client, checkServerIdentity: expectRole('scheduler') });
    assert.equal(refused.data, '');
    assert.match(String(refused.error), /'peer' certificate, not a scheduler's/);

    const scheduler = await issueCertificate(caDir, { role: 'scheduler', name: 'sched' });
    const accepted = await handshake(scheduler, { ...client, checkServerIdentity: expectRole('scheduler') });
    assert.equal(accepted.data, 'hi');

    // With the CA given, only certificates of that CA must carry the role: the
    // operator's own REST certificate from another CA is checked by host name.
    const manager = await issueCertificate(caDir, { role: 'manager', name: 'manager' });
    const asManager = expectRole('manager', client.ca);
    assert.equal((await handshake(manager, { ...client, checkServerIdentity: asManager })).data, 'hi');
    assert.equal((await handshake(impostor, { ...client, checkServerIdentity: asManager })).data, '');
    const operators = await issueCertificate(otherCaDir, { role: 'client', name: 'www' });
    const otherCa = readFileSync(join(otherCaDir, TLS_FILES.ca), 'utf8');
    const viaOtherCa = await handshake(
      { ...operators, ca: client.ca },
      { ...client, ca: otherCa, checkServerIdentity: expectRole('manager', client.ca) },
    );
    assert.equal(viaOtherCa.data, 'hi');
  });
});
