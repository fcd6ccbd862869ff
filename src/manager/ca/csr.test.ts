import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createCsr } from '../../core/certificates.js';
import { isWarrenError } from '../../core/errors.js';
import { checkHosts, csrPublicKey, MAX_HOSTS } from './csr.js';

const badCsr = (err: unknown) => isWarrenError(err, 'BAD_CSR');

/** A CSR for a key of `algorithm`, self-signed. */
async function csrWith(algorithm: EcKeyGenParams | RsaHashedKeyGenParams, signing: Algorithm | EcdsaParams) {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=x',
    keys,
    signingAlgorithm: signing,
  });
  return csr.toString('pem');
}

describe('csrPublicKey', () => {
  test('takes a self-signed P-256 or P-384 request', async () => {
    const { csrPem } = await createCsr('peer-1');
    assert.equal((await csrPublicKey(csrPem)).algorithm.name, 'ECDSA');
    const p384 = await csrWith({ name: 'ECDSA', namedCurve: 'P-384' }, {
      name: 'ECDSA',
      hash: 'SHA-384',
    } as EcdsaParams);
    assert.equal(((await csrPublicKey(p384)).algorithm as EcKeyAlgorithm).namedCurve, 'P-384');
  });

  test('refuses a request whose signature does not match (no proof of possession)', async () => {
    const { csrPem } = await createCsr('peer-1');
    const der = Buffer.from(csrPem.trim().split('\n').slice(1, -1).join(''), 'base64');
    der[der.indexOf('peer-1') + 5] = '2'.charCodeAt(0);
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
    await assert.rejects(
      csrPublicKey(tampered),
      (err: unknown) => badCsr(err) && /proof of possession/.test(String(err)),
    );
  });

  test('refuses garbage, oversized requests and other key types', async () => {
    await assert.rejects(csrPublicKey('not a csr'), badCsr);
    await assert.rejects(csrPublicKey('A'.repeat(9_000)), badCsr);
    const rsa = await csrWith(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      { name: 'RSASSA-PKCS1-v1_5' },
    );
    await assert.rejects(
      csrPublicKey(rsa),
      (err: unknown) => badCsr(err) && /P-256 or P-384/.test(String(err)),
    );
  });
});

describe('checkHosts', () => {
  test('takes DNS names and IP addresses, once each', () => {
    assert.deepEqual(checkHosts(['node-a.lan', '10.0.0.1', '::1', 'node-a.lan']), [
      'node-a.lan',
      '10.0.0.1',
      '::1',
    ]);
  });

  test('refuses anything else, and too many', () => {
    for (const bad of ['', 'a b', 'x_y', '-x.lan', 'a'.repeat(64), 'https://x', '1.2.3.4/8']) {
      assert.throws(
        () => checkHosts([bad]),
        (err: unknown) => isWarrenError(err, 'BAD_HOSTS'),
        bad,
      );
    }
    const many = Array.from({ length: MAX_HOSTS + 1 }, (_, i) => `h${i}.lan`);
    assert.throws(
      () => checkHosts(many),
      (err: unknown) => isWarrenError(err, 'BAD_HOSTS'),
    );
  });
});
