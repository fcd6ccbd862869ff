import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initCa, issueCertificate, type TlsMaterial } from '../core/tls.js';
import { TrustState } from '../core/trust.js';
import { connectOptions } from './connect-options.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-connect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Opens an HTTP/2 session to a server holding `server`; resolves 'ok' or the error message. */
async function dial(server: TlsMaterial, client: TlsMaterial, role: 'scheduler', trust?: TrustState) {
  const srv = createSecureServer({ ...server, requestCert: true }, (_req, res) => res.end('ok'));
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const session = connect(`https://127.0.0.1:${port}`, connectOptions(client, role, trust));
      session.on('error', (err) => resolve(err.message));
      const req = session.request({ ':path': '/' });
      req.on('error', (err) => resolve(err.message));
      req.setEncoding('utf8').on('data', (d: string) => {
        resolve(d);
        session.close();
      });
    });
  } finally {
    srv.close();
  }
}

test('a scheduler client refuses a non-scheduler certificate and a revoked one', async () => {
  const caDir = join(dir, 'ca');
  await initCa(caDir);
  const scheduler = await issueCertificate(caDir, { role: 'scheduler', name: 'sched' });
  const peer = await issueCertificate(caDir, { role: 'peer', name: 'p' });
  assert.equal(await dial(scheduler, peer, 'scheduler'), 'ok');
  assert.match(await dial(peer, peer, 'scheduler'), /'peer' certificate, not a scheduler's/);

  const trust = new TrustState();
  trust.update([new X509Certificate(scheduler.cert).serialNumber], []);
  assert.match(await dial(scheduler, peer, 'scheduler', trust), /revoked certificate/);
  trust.update([], []);
  assert.equal(await dial(scheduler, peer, 'scheduler', trust), 'ok', 'un-revoked: accepted again');
});
