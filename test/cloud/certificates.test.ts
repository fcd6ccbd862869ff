import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ActiveCertificate } from '../../src/cloud/certs/certificate-store.js';
import { SELF_SIGNED_DAYS } from '../../src/cloud/certs/self-signed.js';
import { dnsNames } from '../../src/cloud/certs/x509.js';
import { chain, makeTestPki, selfSignedLeaf, type TestPki } from '../helpers/cert-chains.js';
import { type CertificateApi, startCertificateApi } from '../helpers/certificate-api.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * The certificate routes and store as an operator meets them: the
 * self-signed certificate on first start (and its warning), uploads accepted
 * and served, and every bad upload refused with its code and nothing changed.
 */

const DOMAIN = 'cloud.example.test';
const DAY = 86_400_000;

/** Every file in the folder: name, mode and content. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    out[name] = `${(statSync(path).mode & 0o777).toString(8)} ${readFileSync(path, 'utf8')}`;
  }
  return out;
}

let pki: TestPki;
before(async () => {
  pki = await makeTestPki(DOMAIN);
});
after(() => cleanupTempDirs());

describe('the self-signed certificate', () => {
  test('is made on first start, with a warning, and reused on restart', async () => {
    const data = tempDir('warren-certs-');
    const dir = join(data, 'certs');
    const api = await startCertificateApi({ data, store: { dir, domain: DOMAIN } });
    const first = api.store.current();
    assert.equal(first.source, 'self-signed');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'active.key')).mode & 0o777, 0o600);
    const leaf = new X509Certificate(first.certPem);
    assert.deepEqual(dnsNames(first.certPem), [DOMAIN, `*.${DOMAIN}`]);
    assert.equal(createPrivateKey(first.keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const life = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    assert.ok(Math.abs(life - SELF_SIGNED_DAYS * DAY) < 5 * 60_000, 'valid one year');

    const user = await api.call('GET', '/api/v1/certificate', { as: 'user' });
    assert.equal(user.status, 200);
    assert.equal(user.body.source, 'self-signed');
    assert.deepEqual(user.body.names, [DOMAIN, `*.${DOMAIN}`]);
    assert.equal(user.body.fingerprint_sha256, leaf.fingerprint256);
    assert.equal(user.body.days_left, SELF_SIGNED_DAYS - 1);
    assert.match(user.body.warning, /self-signed/);
    assert.match(user.body.warning, /man-in-the-middle/);
    assert.equal((await api.call('GET', '/api/v1/certificate')).status, 401);
    const files = snapshot(dir);
    await api.close();

    const again = await startCertificateApi({ data, store: { dir, domain: DOMAIN } });
    assert.equal(again.store.current().certPem, first.certPem, 'the same certificate after a restart');
    assert.deepEqual(snapshot(dir), files, 'nothing rewritten');
    await again.close();

    const moved = await startCertificateApi({ data, store: { dir, domain: 'other.example.test' } });
    assert.deepEqual(dnsNames(moved.store.current().certPem), ['other.example.test', '*.other.example.test']);
    await moved.close();
  });

  test('is made anew when it nears its end', async () => {
    const data = tempDir('warren-certs-');
    let offset = 0;
    const api = await startCertificateApi({
      data,
      store: { dir: join(data, 'certs'), domain: DOMAIN, now: () => Date.now() + offset },
    });
    const first = api.store.current();
    assert.equal(await api.store.renewIfDue(), false);
    offset = (SELF_SIGNED_DAYS - 20) * DAY;
    assert.match(
      (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body.warning,
      /expires in 19 days/,
    );
    const changes: ActiveCertificate[] = [];
    api.store.onChange((c) => changes.push(c));
    assert.equal(await api.store.renewIfDue(), true);
    assert.equal(changes.length, 1);
    assert.equal(api.store.current().source, 'self-signed');
    assert.notEqual(api.store.current().certPem, first.certPem);
    await api.close();
  });
});

test('an uploaded self-signed certificate is accepted with a warning', async () => {
  const data = tempDir('warren-certs-');
  const api = await startCertificateApi({ data, store: { dir: join(data, 'certs'), domain: DOMAIN } });
  const leaf = await selfSignedLeaf(DOMAIN);
  const res = await api.call('PUT', '/api/v1/certificate', {
    as: 'admin',
    body: { certificate_pem: leaf.certPem, key_pem: leaf.keyPem },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.source, 'uploaded');
  assert.match(res.body.warning, /self-signed.*man-in-the-middle/);
  await api.close();
});

describe('uploads', () => {
  let api: CertificateApi;
  let dir: string;
  let changes: ActiveCertificate[];

  before(async () => {
    const data = tempDir('warren-certs-');
    dir = join(data, 'certs');
    api = await startCertificateApi({ data, store: { dir, domain: DOMAIN } });
    changes = [];
    api.store.onChange((c) => changes.push(c));
  });
  after(() => api.close());

  const refusedUploads: Array<[string, number, string, () => Promise<unknown>]> = [
    [
      'a key that is not the certificate’s',
      400,
      'CERT_KEY_MISMATCH',
      async () => {
        const [leaf, other] = [await pki.leaf(), await pki.leaf()];
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: other.keyPem };
      },
    ],
    [
      'a chain without its intermediate',
      400,
      'CERT_CHAIN_INCOMPLETE',
      async () => {
        const leaf = await pki.leaf();
        return { certificate_pem: chain(leaf, pki.root), key_pem: leaf.keyPem };
      },
    ],
    [
      'a leaf alone from an unknown CA',
      400,
      'CERT_CHAIN_INCOMPLETE',
      async () => {
        const leaf = await pki.leaf();
        return { certificate_pem: leaf.certPem, key_pem: leaf.keyPem };
      },
    ],
    [
      'names without the wildcard',
      400,
      'CERT_NAMES',
      async () => {
        const leaf = await pki.leaf({ names: [DOMAIN] });
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem };
      },
    ],
    [
      'an expired certificate',
      400,
      'CERT_EXPIRED',
      async () => {
        const leaf = await pki.leaf({ fromDays: -90, toDays: -1 });
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem };
      },
    ],
    [
      'a certificate not valid yet',
      400,
      'CERT_NOT_YET_VALID',
      async () => {
        const leaf = await pki.leaf({ fromDays: 1, toDays: 90 });
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem };
      },
    ],
    [
      'a weak RSA key',
      400,
      'CERT_KEY_WEAK',
      async () => {
        const leaf = await pki.leaf({ key: { kind: 'rsa', bits: 1024 } });
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem };
      },
    ],
    [
      'an encrypted key',
      400,
      'CERT_KEY_ENCRYPTED',
      async () => {
        const leaf = await pki.leaf();
        const key = createPrivateKey(leaf.keyPem).export({
          format: 'pem',
          type: 'pkcs8',
          cipher: 'aes-256-cbc',
          passphrase: 'pass',
        });
        return { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: key.toString() };
      },
    ],
    ['junk', 400, 'CERT_INVALID_PEM', async () => ({ certificate_pem: 'hello', key_pem: 'world' })],
    [
      'a chain over 64 KiB',
      400,
      'BAD_REQUEST',
      async () => {
        const leaf = await pki.leaf();
        return {
          certificate_pem: chain(leaf, pki.intermediate, pki.root).padEnd(64 * 1024 + 1, '\n'),
          key_pem: leaf.keyPem,
        };
      },
    ],
    [
      'a body far over the limit',
      413,
      'TOO_LARGE',
      async () => ({ certificate_pem: 'x'.repeat(300_000), key_pem: 'y' }),
    ],
    [
      'an unknown field',
      400,
      'BAD_REQUEST',
      async () => {
        const leaf = await pki.leaf();
        return {
          certificate_pem: chain(leaf, pki.intermediate, pki.root),
          key_pem: leaf.keyPem,
          source: 'acme',
        };
      },
    ],
  ];

  for (const [what, status, code, body] of refusedUploads) {
    test(`${what} is refused (${code}) and nothing changes`, async () => {
      const files = snapshot(dir);
      const served = api.store.current();
      const res = await api.call('PUT', '/api/v1/certificate', { as: 'admin', body: await body() });
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code, res.body.error.message);
      assert.ok(res.body.error.message.length > 10);
      assert.deepEqual(snapshot(dir), files, 'no file written');
      assert.equal(api.store.current(), served, 'the served certificate stays');
      assert.equal(changes.length, 0, 'no change announced');
      if (code.startsWith('CERT_')) {
        const [entry] = (await api.audit.list({ limit: 1, action: 'certificate.upload_refused' })).items;
        assert.deepEqual(entry?.detail, { reason: code });
      }
    });
  }

  test('a user who is not an admin cannot upload', async () => {
    const files = snapshot(dir);
    const leaf = await pki.leaf();
    const res = await api.call('PUT', '/api/v1/certificate', {
      as: 'user',
      body: { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem },
    });
    assert.equal(res.status, 403);
    assert.deepEqual(snapshot(dir), files);
  });

  test('a valid chain is accepted, written, served and announced', async () => {
    const previous = api.store.current();
    const leaf = await pki.leaf({ toDays: 10.5 });
    const res = await api.call('PUT', '/api/v1/certificate', {
      as: 'admin',
      body: { certificate_pem: chain(leaf, pki.intermediate, pki.root), key_pem: leaf.keyPem },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.source, 'uploaded');
    assert.equal(res.body.fingerprint_sha256, new X509Certificate(leaf.certPem).fingerprint256);
    assert.equal(res.body.days_left, 10);
    assert.equal(res.body.warning, 'The certificate expires in 10 days.');

    const served = api.store.current();
    assert.equal(served.source, 'uploaded');
    assert.equal(new X509Certificate(served.certPem).fingerprint256, res.body.fingerprint_sha256);
    assert.ok(new X509Certificate(served.certPem).checkPrivateKey(createPrivateKey(served.keyPem)));
    assert.deepEqual(changes, [served]);
    assert.equal(readFileSync(join(dir, 'active.crt'), 'utf8'), served.certPem);
    assert.equal(statSync(join(dir, 'active.key')).mode & 0o777, 0o600);
    assert.equal(
      readFileSync(join(dir, 'active.crt.prev'), 'utf8'),
      previous.certPem,
      'the previous pair is kept',
    );
    assert.equal(statSync(join(dir, 'active.key.prev')).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')).source, 'uploaded');
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.tmp')),
      [],
    );

    const [entry] = (await api.audit.list({ limit: 1, action: 'certificate.upload' })).items;
    assert.equal(entry?.actor, 'admin');
    assert.equal(
      (entry?.detail as { fingerprint_sha256?: string } | undefined)?.fingerprint_sha256,
      res.body.fingerprint_sha256,
    );
    assert.doesNotMatch(JSON.stringify(entry), /PRIVATE KEY/);
    const seen = await api.call('GET', '/api/v1/certificate', { as: 'user' });
    assert.deepEqual(seen.body, res.body);
  });
});
