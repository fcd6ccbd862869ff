import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type ActiveCertificate,
  CertificateStore,
  renewalTime,
} from '../../src/cloud/certs/certificate-store.js';
import { silentLogger } from '../../src/core/log.js';
import { chain, makeTestPki, type TestPki } from '../helpers/cert-chains.js';
import { startCertificateApi } from '../helpers/certificate-api.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * The certificate store on disk and over time: a replace interrupted at any
 * point, broken files, and renewal (due time, failures shown to the console,
 * bounded retries with back-off, the loop).
 */

const DOMAIN = 'cloud.example.test';
const DAY = 86_400_000;
const log = silentLogger();

let pki: TestPki;
before(async () => {
  pki = await makeTestPki(DOMAIN);
});
after(() => cleanupTempDirs());

async function validPair(toDays = 90) {
  const leaf = await pki.leaf({ toDays });
  return { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: leaf.keyPem };
}

function fingerprint(cert: ActiveCertificate): string {
  return new X509Certificate(cert.certPem).fingerprint256;
}

test('renewalTime: a third of the life left, at most 30 days before the end', () => {
  const start = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(renewalTime(start, start + 90 * DAY), start + 60 * DAY);
  assert.equal(renewalTime(start, start + 365 * DAY), start + 335 * DAY);
  assert.equal(renewalTime(start, start + 6 * DAY), start + 4 * DAY);
});

describe('on disk', () => {
  test('a replace interrupted before any rename leaves the old certificate', async () => {
    const dir = join(tempDir(), 'certs');
    const old = (await CertificateStore.open({ dir, domain: DOMAIN, log })).current();
    const next = await validPair();
    writeFileSync(join(dir, 'active.key.tmp'), next.keyPem.slice(0, 40)); // cut short by the crash
    writeFileSync(join(dir, 'active.crt.tmp'), next.certificatePem);
    const store = await CertificateStore.open({ dir, domain: DOMAIN, log });
    assert.equal(fingerprint(store.current()), fingerprint(old));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
  });

  test('a replace interrupted after the key was renamed is finished', async () => {
    const dir = join(tempDir(), 'certs');
    await CertificateStore.open({ dir, domain: DOMAIN, log });
    const next = await validPair();
    writeFileSync(join(dir, 'active.key'), next.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'active.crt.tmp'), next.certificatePem);
    writeFileSync(join(dir, 'source.json.tmp'), JSON.stringify({ source: 'uploaded', installed_at: 'x' }));
    const store = await CertificateStore.open({ dir, domain: DOMAIN, log });
    assert.equal(store.current().source, 'uploaded');
    assert.equal(store.current().certPem, next.certificatePem);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );
  });

  test('a certificate whose key does not match goes back to the previous pair', async () => {
    const dir = join(tempDir(), 'certs');
    const first = await CertificateStore.open({ dir, domain: DOMAIN, log });
    const selfSigned = first.current();
    await first.install('uploaded', await validPair());
    writeFileSync(join(dir, 'active.key'), (await pki.leaf()).keyPem); // someone else's key
    const store = await CertificateStore.open({ dir, domain: DOMAIN, log });
    assert.equal(fingerprint(store.current()), fingerprint(selfSigned));
    assert.ok(existsSync(join(dir, 'active.key.prev')));
  });
});

describe('renewal', () => {
  test('failures are shown, retried with back-off, and bounded', async () => {
    let offset = 0;
    const data = tempDir();
    const api = await startCertificateApi({
      data,
      store: {
        dir: join(data, 'certs'),
        domain: DOMAIN,
        now: () => Date.now() + offset,
        trustedRoots: [pki.root.certPem],
        retry: { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 10_000, pauseMs: DAY },
      },
    });
    const { store } = api;
    await store.install('acme', await validPair(90));
    const issued = store.current();

    // Due, but no DNS hook: the console is told to order again.
    offset = 61 * DAY;
    assert.equal(await store.renewIfDue(), false);
    let seen = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.match(seen.warning, /due for renewal/);
    assert.match(seen.warning, /expires in 28 days/);

    let calls = 0;
    store.setRenewer(async () => {
      calls++;
      throw new Error('the DNS provider refused the record');
    });
    assert.equal(await store.renewIfDue(), false);
    assert.equal(calls, 1);
    seen = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.match(seen.warning, /Automatic renewal failed: the DNS provider refused the record/);
    assert.equal(seen.acme.renewal_error, 'the DNS provider refused the record');
    assert.ok(seen.acme.next_renewal_attempt_at);

    assert.equal(await store.renewIfDue(), false);
    assert.equal(calls, 1, 'no new attempt before the back-off has passed');
    offset += 1_000;
    await store.renewIfDue();
    assert.equal(calls, 2);
    offset += 1_000;
    await store.renewIfDue();
    assert.equal(calls, 2, 'the second wait is twice as long');
    offset += 1_000;
    await store.renewIfDue();
    assert.equal(calls, 3);
    offset += 10_000;
    await store.renewIfDue();
    assert.equal(calls, 3, 'after 3 failures in a row it pauses');
    offset += DAY;
    await store.renewIfDue();
    assert.equal(calls, 4, 'and tries again after the pause');

    store.setRenewer(async () => {
      calls++;
      await store.install('acme', await validPair(90 + 61));
    });
    offset += DAY;
    assert.equal(await store.renewIfDue(), true);
    assert.notEqual(store.current(), issued);
    seen = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.equal(seen.warning, null);
    assert.equal(seen.acme.renewal_error, null);
    await api.close();
  });

  test('the loop renews by itself and stops', async () => {
    let offset = 0;
    const dir = join(tempDir(), 'certs');
    const store = await CertificateStore.open({
      dir,
      domain: DOMAIN,
      log,
      now: () => Date.now() + offset,
      checkIntervalMs: 20,
    });
    const first = store.current();
    const changed = new Promise<ActiveCertificate>((resolve) => {
      store.onChange((cert) => {
        offset = 0;
        resolve(cert);
      });
    });
    // The loop's timers do not keep a process alive (a server does): this one does, meanwhile.
    const keepAlive = setTimeout(() => undefined, 10_000);
    store.start();
    offset = 340 * DAY;
    const renewed = await changed;
    store.stop();
    clearTimeout(keepAlive);
    assert.equal(renewed.source, 'self-signed');
    assert.notEqual(fingerprint(renewed), fingerprint(first));
  });
});
