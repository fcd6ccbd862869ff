import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, TLSSocket } from 'node:tls';
import { initCa, TLS_FILES } from '../../core/tls.js';
import { LeafCertificates } from './leaf-certs.js';

describe('leaf certificates for intercepted hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-leaf-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a CA key others can read', async () => {
    const caDir = join(dir, 'open');
    await initCa(caDir, { name: 'Intercept CA' });
    chmodSync(join(caDir, TLS_FILES.caKey), 0o644);
    await assert.rejects(
      LeafCertificates.load(join(caDir, TLS_FILES.ca), join(caDir, TLS_FILES.caKey)),
      /readable by others.*chmod 600/,
    );
  });

  it('mints a certificate a client trusting the CA accepts for that host only, and caches it', async () => {
    const caDir = join(dir, 'ca');
    await initCa(caDir, { name: 'Intercept CA' });
    const leaves = await LeafCertificates.load(join(caDir, TLS_FILES.ca), join(caDir, TLS_FILES.caKey), 2);
    const context = await leaves.contextFor('127.0.0.1');
    assert.equal(await leaves.contextFor('127.0.0.1'), context, 'the second call is served from the cache');

    // Served the way the proxy serves an opened tunnel: a TLSSocket over a plain socket.
    const server = createServer((raw) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext: context });
      tls.on('error', () => raw.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const ca = readFileSync(join(caDir, TLS_FILES.ca), 'utf8');
    try {
      const client = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      // The leaf names 127.0.0.1 (an IP SAN) and nothing else.
      const [err] = await once(client, 'error').catch((e) => [e]);
      assert.match(String(err?.message ?? err), /localhost|altnames|Hostname/i);
      const good = connect({ host: '127.0.0.1', port, ca });
      await once(good, 'secureConnect');
      assert.equal(good.authorized, true);
      good.destroy();
      const other = connect({ host: '127.0.0.1', port });
      const [otherErr] = await once(other, 'error').catch((e) => [e]);
      assert.match(String(otherErr?.message ?? otherErr), /self.signed|unable to get|certificate/i);
    } finally {
      server.close();
    }
  });
});
