import 'reflect-metadata';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import {
  CertificateKeeper,
  certificateFingerprint,
  checkIssued,
  createCsr,
  fingerprintMatches,
  joinTokenFingerprint,
  type RenewFunction,
  renewalDelay,
  retryDelay,
} from './certificates.js';
import { isWarrenError } from './errors.js';
import { silentLogger } from './log.js';
import { initCa, issueCertificate, loadTlsDir, signCertificate, TLS_FILES, writeTlsDir } from './tls.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-certificates-'));
const caDir = join(dir, 'ca');
let caPem: string;

before(async () => {
  await initCa(caDir);
  caPem = readFileSync(join(caDir, TLS_FILES.ca), 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A CA that signs a CSR for the name and role it is told (the manager's rule), with `lifetimeMs`. */
function signer(lifetimeMs: number, as?: { name: string; role: 'peer' | 'scheduler' }): RenewFunction {
  return async (tls, csrPem) => {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    assert.ok(await csr.verify());
    const current = new X509Certificate(tls.cert);
    const [, name, role] = /^CN=(.*)\nOU=(.*)\n/.exec(current.subject)!;
    const subject = as ?? { name: name!, role: role as 'peer' };
    const { ca, cert } = await signCertificate(caDir, { ...subject, lifetimeMs }, csr.publicKey);
    return { certificatePem: cert, caPem: ca };
  };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('renewal timing', () => {
  test('renewal is due at two thirds of the life, at once when that is past', () => {
    const validity = { notBefore: 0, notAfter: 9_000 };
    assert.equal(renewalDelay(validity, 0), 6_000);
    assert.equal(renewalDelay(validity, 5_000), 1_000);
    assert.equal(renewalDelay(validity, 7_000), 0);
    assert.equal(renewalDelay(validity, 20_000), 0);
    // A 7-day certificate renews after about 4 days 16 hours.
    const day = 86_400_000;
    assert.equal(renewalDelay({ notBefore: 0, notAfter: 7 * day }, 0), (14 / 3) * day);
  });

  test('retries back off from 1 s, doubling, to at most a minute', () => {
    assert.deepEqual([1, 2, 3, 4].map(retryDelay), [1_000, 2_000, 4_000, 8_000]);
    assert.equal(retryDelay(7), 60_000);
    assert.equal(retryDelay(10_000), 60_000);
  });
});

describe('join tokens and fingerprints', () => {
  test('the fingerprint is read from a join token; anything else is refused', () => {
    const fp = certificateFingerprint(caPem);
    assert.equal(joinTokenFingerprint(`wrj_${'a_B-9'.repeat(9)}_${fp}\n`), fp);
    for (const bad of [
      '',
      `wrp_${'a'.repeat(43)}`,
      `wrj_short_${fp}`,
      `wrj_${'a'.repeat(43)}_${fp.slice(1)}`,
    ]) {
      assert.throws(
        () => joinTokenFingerprint(bad),
        (err: unknown) => isWarrenError(err, 'BAD_JOIN_TOKEN'),
      );
    }
  });

  test('fingerprints compare exactly, whatever the case', () => {
    const fp = certificateFingerprint(caPem);
    assert.ok(fingerprintMatches(caPem, fp));
    assert.ok(fingerprintMatches(caPem, fp.toUpperCase()));
    assert.ok(!fingerprintMatches(caPem, `${fp.slice(0, 63)}${fp[63] === '0' ? '1' : '0'}`));
    assert.ok(!fingerprintMatches(caPem, fp.slice(0, 62)));
  });

  test('checkIssued refuses a certificate for another key, another name, or from another CA', async () => {
    const { csrPem, keyPem } = await createCsr('peer-1');
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const { cert } = await signCertificate(caDir, { name: 'peer-1', role: 'peer' }, csr.publicKey);
    checkIssued(caPem, cert, keyPem, { name: 'peer-1', role: 'peer' });
    const otherKey = (await createCsr('peer-1')).keyPem;
    const invalid = (err: unknown) => isWarrenError(err, 'CERTIFICATE_INVALID');
    assert.throws(() => checkIssued(caPem, cert, otherKey, { name: 'peer-1', role: 'peer' }), invalid);
    assert.throws(() => checkIssued(caPem, cert, keyPem, { name: 'peer-1', role: 'scheduler' }), invalid);
    const otherCa = join(dir, 'other-ca');
    await initCa(otherCa);
    const stranger = await issueCertificate(otherCa, { name: 'peer-1', role: 'peer' });
    assert.throws(
      () => checkIssued(caPem, stranger.cert, stranger.key, { name: 'peer-1', role: 'peer' }),
      invalid,
    );
  });
});

describe('CertificateKeeper', () => {
  test('renews at two thirds by itself, replaces the files, and `live` follows', async () => {
    const tlsDir = join(dir, 'keeper-1');
    const material = await issueCertificate(caDir, { name: 'peer-k', role: 'peer', lifetimeMs: 3_000 });
    writeTlsDir(tlsDir, material);
    const keeper = new CertificateKeeper({ tlsDir, material, renew: signer(60_000), log: silentLogger() });
    const live = keeper.live;
    const renewed: string[] = [];
    keeper.on('renewed', (m) => renewed.push(m.cert));
    const started = Date.now();
    keeper.start();
    try {
      await until('renewed', () => renewed.length === 1);
      const took = Date.now() - started;
      // Due at 2/3 of the life from notBefore (X.509 times are whole seconds): 0.9-1.9 s from now.
      assert.ok(took > 500 && took < 3_000, `renewed after ${took} ms`);
      assert.equal(live.cert, renewed[0]);
      assert.equal(keeper.material.cert, renewed[0]);
      const onDisk = loadTlsDir(tlsDir);
      assert.equal(onDisk.cert, renewed[0]);
      assert.equal(onDisk.key, live.key);
      assert.equal(new X509Certificate(onDisk.cert).subject, new X509Certificate(material.cert).subject);
      assert.deepEqual(
        readdirSync(tlsDir).sort(),
        ['ca.crt', 'tls.crt', 'tls.key'],
        'no temporary files left',
      );
    } finally {
      keeper.stop();
    }
  });

  test('retries a failed renewal with back-off, and never writes a certificate that does not check out', async () => {
    const tlsDir = join(dir, 'keeper-2');
    const material = await issueCertificate(caDir, { name: 'peer-f', role: 'peer', lifetimeMs: 60_000 });
    writeTlsDir(tlsDir, material);
    const attempts: number[] = [];
    const escalate = signer(60_000, { name: 'peer-f', role: 'scheduler' });
    const honest = signer(60_000);
    // First a manager that is away, then one that answers with another role, then a good answer.
    const renew: RenewFunction = async (tls, csr) => {
      attempts.push(Date.now());
      if (attempts.length === 1) throw new Error('manager unreachable');
      if (attempts.length === 2) return escalate(tls, csr);
      return honest(tls, csr);
    };
    const keeper = new CertificateKeeper({ tlsDir, material, renew, log: silentLogger(), renewAt: 0 });
    keeper.start();
    try {
      await until('renewed after two failures', () => keeper.material.cert !== material.cert, 15_000);
      assert.equal(attempts.length, 3);
      assert.ok(attempts[1]! - attempts[0]! >= 900, 'the first retry waits about a second');
      assert.ok(attempts[2]! - attempts[1]! >= 1_900, 'the second about two');
      assert.match(new X509Certificate(keeper.material.cert).subject, /OU=peer/);
      assert.equal(loadTlsDir(tlsDir).cert, keeper.material.cert);
    } finally {
      keeper.stop();
    }
  });
});
