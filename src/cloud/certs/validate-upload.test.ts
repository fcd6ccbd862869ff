import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { chain, makeTestPki, selfSignedLeaf, type TestPki } from '../../../test/helpers/cert-chains.js';
import { isWarrenError } from '../../core/errors.js';
import {
  expiryWarning,
  PEM_MAX_BYTES,
  type ValidateOptions,
  validateCertificate,
} from './validate-upload.js';

const DOMAIN = 'cloud.example.test';
const DAY = 86_400_000;
let pki: TestPki;
const options = (extra: Partial<ValidateOptions> = {}): ValidateOptions => ({
  domain: DOMAIN,
  now: Date.now(),
  trustedRoots: [],
  ...extra,
});

function refused(code: string, fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isWarrenError(err), `expected a WarrenError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  pki = await makeTestPki(DOMAIN);
});

describe('validateCertificate', () => {
  test('a leaf, its intermediate and the root are accepted and summarised', async () => {
    const leaf = await pki.leaf();
    const got = validateCertificate(
      { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: leaf.keyPem },
      options(),
    );
    assert.deepEqual(got.summary.names, [DOMAIN, `*.${DOMAIN}`]);
    assert.equal(got.summary.daysLeft, 89);
    assert.equal(got.summary.warning, null);
    assert.equal(got.summary.selfSigned, false);
    assert.match(got.summary.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(got.chainPem.match(/BEGIN CERTIFICATE/g)?.length, 3);
    assert.match(got.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  test('the root may be left out when it is a trusted root, not otherwise', async () => {
    const leaf = await pki.leaf();
    const input = { certificatePem: chain(leaf, pki.intermediate), keyPem: leaf.keyPem };
    validateCertificate(input, options({ trustedRoots: [pki.root.certPem] }));
    refused(
      'CERT_CHAIN_INCOMPLETE',
      () => validateCertificate(input, options()),
      /neither in the chain nor a root/,
    );
  });

  test('a leaf without its intermediate is an incomplete chain', async () => {
    const leaf = await pki.leaf();
    const opts = options({ trustedRoots: [pki.root.certPem] });
    refused('CERT_CHAIN_INCOMPLETE', () =>
      validateCertificate({ certificatePem: chain(leaf), keyPem: leaf.keyPem }, opts),
    );
    refused(
      'CERT_CHAIN_INCOMPLETE',
      () => validateCertificate({ certificatePem: chain(leaf, pki.root), keyPem: leaf.keyPem }, opts),
      /certificate 1 .* is not signed by certificate 2/,
    );
    refused('CERT_CHAIN_INCOMPLETE', () =>
      validateCertificate(
        { certificatePem: chain(leaf, pki.root, pki.intermediate), keyPem: leaf.keyPem },
        opts,
      ),
    );
  });

  test('a self-signed leaf on its own is accepted (and marked self-signed)', async () => {
    const leaf = await selfSignedLeaf(DOMAIN);
    const got = validateCertificate({ certificatePem: leaf.certPem, keyPem: leaf.keyPem }, options());
    assert.equal(got.summary.selfSigned, true);
  });

  test("a key that is not the leaf's is refused", async () => {
    const leaf = await pki.leaf();
    const other = await pki.leaf();
    refused('CERT_KEY_MISMATCH', () =>
      validateCertificate(
        { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: other.keyPem },
        options(),
      ),
    );
    refused('CERT_KEY_MISMATCH', () =>
      validateCertificate(
        { certificatePem: chain(pki.intermediate, pki.root), keyPem: leaf.keyPem },
        options(),
      ),
    );
  });

  test('the names must cover the domain and its wildcard', async () => {
    for (const names of [
      [DOMAIN],
      [`*.${DOMAIN}`],
      ['other.test', '*.other.test'],
      [`app.${DOMAIN}`, DOMAIN],
    ]) {
      const leaf = await pki.leaf({ names });
      refused(
        'CERT_NAMES',
        () =>
          validateCertificate(
            { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: leaf.keyPem },
            options(),
          ),
        /must cover both/,
      );
    }
    const leaf = await pki.leaf({ names: [`*.${DOMAIN}`, DOMAIN.toUpperCase()] });
    validateCertificate(
      { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: leaf.keyPem },
      options({ domain: `${DOMAIN.toUpperCase()}.` }),
    );
  });

  test('expired and not-yet-valid certificates are refused, intermediates too', async () => {
    const expired = await pki.leaf({ fromDays: -100, toDays: -1 });
    refused('CERT_EXPIRED', () =>
      validateCertificate(
        { certificatePem: chain(expired, pki.intermediate, pki.root), keyPem: expired.keyPem },
        options(),
      ),
    );
    const early = await pki.leaf({ fromDays: 2, toDays: 90 });
    refused('CERT_NOT_YET_VALID', () =>
      validateCertificate(
        { certificatePem: chain(early, pki.intermediate, pki.root), keyPem: early.keyPem },
        options(),
      ),
    );
    const old = await makeTestPki(DOMAIN, { intermediateToDays: -1 });
    const leaf = await old.leaf();
    refused(
      'CERT_EXPIRED',
      () =>
        validateCertificate(
          { certificatePem: chain(leaf, old.intermediate, old.root), keyPem: leaf.keyPem },
          options(),
        ),
      /certificate 2 of the chain/,
    );
  });

  test('weak RSA keys are refused; RSA 2048 is accepted', async () => {
    const weak = await pki.leaf({ key: { kind: 'rsa', bits: 1024 } });
    refused(
      'CERT_KEY_WEAK',
      () =>
        validateCertificate(
          { certificatePem: chain(weak, pki.intermediate, pki.root), keyPem: weak.keyPem },
          options(),
        ),
      /1024 bits/,
    );
    const good = await pki.leaf({ key: { kind: 'rsa', bits: 2048 } });
    validateCertificate(
      { certificatePem: chain(good, pki.intermediate, pki.root), keyPem: good.keyPem },
      options(),
    );
  });

  test('encrypted keys are refused with a clear message', async () => {
    const leaf = await pki.leaf({ key: { kind: 'rsa', bits: 2048 } });
    const key = createPrivateKey(leaf.keyPem);
    const certificatePem = chain(leaf, pki.intermediate, pki.root);
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      const keyPem = key
        .export({ format: 'pem', type, cipher: 'aes-256-cbc', passphrase: 'secret' })
        .toString();
      refused(
        'CERT_KEY_ENCRYPTED',
        () => validateCertificate({ certificatePem, keyPem }, options()),
        /passphrase/,
      );
    }
  });

  test('junk, swapped fields and oversize input are refused', async () => {
    const leaf = await pki.leaf();
    const certificatePem = chain(leaf, pki.intermediate, pki.root);
    refused('CERT_INVALID_PEM', () =>
      validateCertificate({ certificatePem: 'hello', keyPem: leaf.keyPem }, options()),
    );
    refused('CERT_INVALID_PEM', () =>
      validateCertificate(
        {
          certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
          keyPem: leaf.keyPem,
        },
        options(),
      ),
    );
    refused('CERT_INVALID_PEM', () =>
      validateCertificate({ certificatePem: leaf.keyPem, keyPem: leaf.certPem }, options()),
    );
    refused('CERT_INVALID_PEM', () =>
      validateCertificate({ certificatePem, keyPem: 'not a key' }, options()),
    );
    refused('CERT_INVALID_PEM', () =>
      validateCertificate({ certificatePem, keyPem: leaf.keyPem + leaf.keyPem }, options()),
    );
    refused('CERT_TOO_LARGE', () =>
      validateCertificate(
        { certificatePem: certificatePem + ' '.repeat(PEM_MAX_BYTES), keyPem: leaf.keyPem },
        options(),
      ),
    );
    refused('CERT_TOO_LARGE', () =>
      validateCertificate({ certificatePem, keyPem: leaf.keyPem + '\n'.repeat(PEM_MAX_BYTES) }, options()),
    );
  });

  test('a certificate close to expiry is accepted with a warning', async () => {
    const leaf = await pki.leaf({ toDays: 10.5 });
    const got = validateCertificate(
      { certificatePem: chain(leaf, pki.intermediate, pki.root), keyPem: leaf.keyPem },
      options(),
    );
    assert.equal(got.summary.daysLeft, 10);
    assert.equal(got.summary.warning, 'expires in 10 days');
  });
});

test('expiryWarning', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.equal(expiryWarning(now + 31 * DAY, now), null);
  assert.equal(expiryWarning(now + 30 * DAY, now), null);
  assert.equal(expiryWarning(now + 29.5 * DAY, now), 'expires in 29 days');
  assert.equal(expiryWarning(now + 1.5 * DAY, now), 'expires in 1 day');
  assert.match(expiryWarning(now - DAY, now)!, /expired on 2029-12-31/);
});
