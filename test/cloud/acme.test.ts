import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ActiveCertificate } from '../../src/cloud/certs/certificate-store.js';
import { dnsNames } from '../../src/cloud/certs/x509.js';
import { isWarrenError } from '../../src/core/errors.js';
import { type CertificateApi, startCertificateApi } from '../helpers/certificate-api.js';
import { type Pebble, requirePebble, startPebble } from '../helpers/pebble.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * ACME DNS-01 end to end against Pebble: the test is the DNS operator
 * (records set in pebble-challtestsrv by hand, or by a DNS hook script).
 */

const DOMAIN = 'cloud.example.test';
const DAY = 86_400_000;
const EMAIL = 'ops@example.test';
const skip = requirePebble();

describe('ACME DNS-01 against Pebble', { skip }, () => {
  let pebble: Pebble;
  let root: string;

  before(async () => {
    root = tempDir('warren-acme-');
    // 90-day certificates, like Let's Encrypt's.
    pebble = await startPebble(root, { validitySeconds: 90 * 86_400 });
  });
  after(async () => {
    await pebble?.stop();
    cleanupTempDirs();
  });

  const apis: CertificateApi[] = [];
  after(async () => {
    for (const api of apis) await api.close();
  });

  async function setup(
    name: string,
    extra: { dnsHook?: string; now?: () => number; checkIntervalMs?: number } = {},
  ) {
    const data = join(root, name);
    const dir = join(data, 'certs');
    const api = await startCertificateApi({
      data,
      store: {
        dir,
        domain: DOMAIN,
        ...(extra.now ? { now: extra.now } : {}),
        ...(extra.checkIntervalMs ? { checkIntervalMs: extra.checkIntervalMs } : {}),
      },
      acme: {
        directoryUrl: pebble.directoryUrl,
        caBundlePem: pebble.caPem,
        propagationDelayMs: 0,
        poll: { minMs: 100, maxMs: 500 },
        ...(extra.dnsHook ? { dnsHook: extra.dnsHook } : {}),
      },
    });
    apis.push(api);
    const changes: ActiveCertificate[] = [];
    api.store.onChange((cert) => changes.push(cert));
    return { dir, api, store: api.store, manager: api.acme, changes };
  }

  /** A DNS hook in the test's folder that sets and clears records in challtestsrv. */
  function writeHook(dir: string, fail = false): { path: string; log: string } {
    const path = join(dir, 'dns-hook.mjs');
    const log = join(dir, 'dns-hook.log');
    writeFileSync(
      path,
      `#!${process.execPath}
import { appendFileSync } from 'node:fs';
const [action] = process.argv.slice(2);
if (${fail}) { console.error('the DNS provider said: zone not found'); process.exit(3); }
const name = process.env.WARREN_DNS_NAME, value = process.env.WARREN_DNS_VALUE;
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ action, argv: process.argv.slice(2), name, value, domain: process.env.WARREN_DOMAIN }) + '\\n');
const path = action === 'present' ? '/set-txt' : '/clear-txt';
const body = action === 'present' ? { host: name + '.', value } : { host: name + '.' };
const res = await fetch(${JSON.stringify(pebble.challtestsrvUrl)} + path, { method: 'POST', body: JSON.stringify(body) });
if (!res.ok) { console.error('challtestsrv said', res.status); process.exit(1); }
`,
      { mode: 0o700 },
    );
    return { path, log };
  }

  /** Resolves once no ACME work runs (the hook's cleanup comes after the certificate is in). */
  async function settled(api: CertificateApi): Promise<void> {
    const deadline = Date.now() + 30_000;
    while ((await api.call('GET', '/api/v1/certificate', { as: 'user' })).body.acme.state === 'validating') {
      assert.ok(Date.now() < deadline, 'ACME work still running after 30 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function assertIssuedByPebble(cert: ActiveCertificate): Promise<void> {
    assert.equal(cert.source, 'acme');
    assert.deepEqual(dnsNames(cert.certPem).sort(), [`*.${DOMAIN}`, DOMAIN].sort());
    const chain = cert.certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    assert.ok(chain.length >= 2, 'the chain has the leaf and the intermediate');
    const rootCert = new X509Certificate(await pebble.issuingRootPem());
    const last = new X509Certificate(chain[chain.length - 1]!);
    assert.ok(last.verify(rootCert.publicKey), "the chain ends under Pebble's root");
  }

  test('order, TXT records set by the operator, complete: the certificate is installed', async () => {
    const { dir, store, manager, changes } = await setup('manual');
    const before = store.current();
    assert.equal(before.source, 'self-signed');

    const { order, completion } = await manager.begin({ email: EMAIL });
    assert.equal(completion, undefined, 'without a hook the operator completes');
    assert.equal(order.txtRecords.length, 2, 'one value for the domain, one for the wildcard');
    for (const record of order.txtRecords) assert.equal(record.name, `_acme-challenge.${DOMAIN}`);
    assert.notEqual(order.txtRecords[0]!.value, order.txtRecords[1]!.value);
    assert.equal(manager.status().state, 'pending');
    assert.equal(statSync(join(dir, 'acme-account.pem')).mode & 0o777, 0o600);

    for (const record of order.txtRecords) await pebble.setTxt(record.name, record.value);
    const cert = await manager.complete();
    await pebble.clearTxt(`_acme-challenge.${DOMAIN}`);

    await assertIssuedByPebble(cert);
    assert.equal(store.current(), cert);
    assert.deepEqual(changes, [cert], 'onChange fired once with the new certificate');
    assert.equal(readFileSync(join(dir, 'active.crt'), 'utf8'), cert.certPem);
    assert.equal(statSync(join(dir, 'active.key')).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(join(dir, 'source.json'), 'utf8')).source, 'acme');
    assert.equal(
      readFileSync(join(dir, 'active.crt.prev'), 'utf8'),
      before.certPem,
      'the previous pair is kept',
    );
    assert.equal(manager.status().state, 'idle');
    assert.equal(manager.status().pending, null);

    // The account is made once and reused.
    const account = JSON.parse(readFileSync(join(dir, 'acme-account.json'), 'utf8'));
    await manager.begin({ email: EMAIL });
    assert.equal(
      JSON.parse(readFileSync(join(dir, 'acme-account.json'), 'utf8')).account_url,
      account.account_url,
    );
  });

  test('complete without the TXT records is refused and changes nothing', async () => {
    const { dir, store, manager, changes } = await setup('missing-records');
    const before = readFileSync(join(dir, 'active.crt'), 'utf8');
    await manager.begin({ email: EMAIL });
    await assert.rejects(manager.complete(), (err: unknown) => {
      assert.ok(isWarrenError(err, 'ACME_VALIDATION_FAILED'), String(err));
      assert.match((err as Error).message, /_acme-challenge|TXT/i);
      return true;
    });
    assert.equal(store.current().source, 'self-signed');
    assert.equal(readFileSync(join(dir, 'active.crt'), 'utf8'), before);
    assert.equal(changes.length, 0);
    assert.match(manager.status().lastError ?? '', /TXT/);
    await assert.rejects(manager.complete(), (err: unknown) => isWarrenError(err, 'ACME_NO_ORDER'));
  });

  test('with a DNS hook the whole order runs unattended', async () => {
    const hook = writeHook(tempDir());
    const { manager: hooked, store, changes } = await setup('hooked', { dnsHook: hook.path });
    const { order, completion } = await hooked.begin({ email: EMAIL });
    assert.ok(completion, 'with a hook the order completes by itself');
    assert.equal(order.txtRecords.length, 2);
    const cert = await completion;
    await assertIssuedByPebble(cert);
    assert.equal(store.current(), cert);
    assert.deepEqual(changes, [cert]);
    const calls = readFileSync(hook.log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.deepEqual(
      calls.map((c) => c.action),
      ['present', 'present', 'cleanup', 'cleanup'],
    );
    for (const call of calls) {
      assert.deepEqual(call.argv, [call.action], 'the record is never on the command line');
      assert.equal(call.name, `_acme-challenge.${DOMAIN}`);
      assert.equal(call.domain, DOMAIN);
    }
    assert.deepEqual(
      calls
        .slice(0, 2)
        .map((c) => c.value)
        .sort(),
      order.txtRecords.map((r) => r.value).sort(),
    );
  });

  test('renewal near expiry replaces the certificate through the hook, by the renewal loop', async () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    const hook = writeHook(tempDir());
    const { api, store, manager, changes } = await setup('renewal', {
      dnsHook: hook.path,
      now,
      checkIntervalMs: 50,
    });
    const first = await (await manager.begin({ email: EMAIL })).completion!;
    changes.length = 0;
    assert.equal(await store.renewIfDue(), false, 'a fresh certificate is not due');
    assert.deepEqual(changes, []);

    const renewed = new Promise<ActiveCertificate>((resolve) => {
      store.onChange((cert) => {
        offset = 0; // back to the real clock once the new certificate is in
        resolve(cert);
      });
    });
    const keepAlive = setTimeout(() => undefined, 30_000); // the loop's timers are unref'd
    store.start();
    offset = 61 * DAY; // 29 days left: under the 30-day mark
    const cert = await renewed;
    store.stop();
    await settled(api);
    clearTimeout(keepAlive);
    assert.equal(changes.length, 1);
    assert.equal(store.current(), cert);
    assert.notEqual(cert.certPem, first.certPem);
    assert.notEqual(cert.keyPem, first.keyPem, 'a fresh key for every certificate');
    await assertIssuedByPebble(cert);
    assert.equal(store.renewalStatus().lastError, null);
  });

  test('a failing DNS hook is reported and changes nothing', async () => {
    const hook = writeHook(tempDir(), true);
    const { dir, api, store, manager, changes } = await setup('hook-fails', { dnsHook: hook.path });
    const before = readFileSync(join(dir, 'active.crt'), 'utf8');
    const { completion } = await manager.begin({ email: EMAIL });
    await assert.rejects(completion!, (err: unknown) => {
      assert.ok(isWarrenError(err, 'ACME_HOOK_FAILED'), String(err));
      assert.match((err as Error).message, /exited with status 3: the DNS provider said: zone not found/);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'active.crt'), 'utf8'), before);
    assert.equal(store.current().source, 'self-signed');
    assert.deepEqual(changes, []);
    const seen = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.match(seen.acme.last_error, /zone not found/);
    // The order is still good: the operator may create the records by hand and complete it.
    assert.equal(seen.acme.state, 'pending');
    assert.equal(seen.acme.pending.txt_records.length, 2);
  });

  test('through the API: the admin orders, the operator sets the records, the admin completes', async () => {
    const { api, store, changes } = await setup('api');
    const refused = await api.call('POST', '/api/v1/certificate/acme', {
      as: 'user',
      body: { email: EMAIL },
    });
    assert.equal(refused.status, 403);
    const bad = await api.call('POST', '/api/v1/certificate/acme', {
      as: 'admin',
      body: { email: EMAIL, directory_url: 'http://127.0.0.1/dir' },
    });
    assert.equal(bad.status, 400);
    // Another https:// directory than the configured one: the console cannot point the server anywhere.
    const elsewhere = await api.call('POST', '/api/v1/certificate/acme', {
      as: 'admin',
      body: { email: EMAIL, directory_url: 'https://169.254.169.254/latest/meta-data' },
    });
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.body.error.code, 'ACME_DIRECTORY_NOT_ALLOWED');

    const ordered = await api.call('POST', '/api/v1/certificate/acme', {
      as: 'admin',
      body: { email: EMAIL },
    });
    assert.equal(ordered.status, 200, JSON.stringify(ordered.body));
    assert.equal(ordered.body.status, 'pending');
    assert.equal(ordered.body.txt_records.length, 2);
    const shown = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.equal(shown.source, 'self-signed');
    assert.equal(shown.acme.state, 'pending');
    assert.deepEqual(shown.acme.pending.txt_records, ordered.body.txt_records);
    assert.equal(shown.acme.pending.order_id, ordered.body.order_id);

    for (const record of ordered.body.txt_records) await pebble.setTxt(record.name, record.value);
    const done = await api.call('POST', '/api/v1/certificate/acme/complete', { as: 'admin' });
    await pebble.clearTxt(`_acme-challenge.${DOMAIN}`);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.source, 'acme');
    assert.deepEqual([...done.body.names].sort(), [`*.${DOMAIN}`, DOMAIN].sort());
    assert.equal(done.body.warning, null);
    assert.equal(done.body.acme.state, 'idle');
    assert.equal(done.body.days_left, 89);
    await assertIssuedByPebble(store.current());
    assert.equal(changes.length, 1);
    const actions = (await api.audit.list({ limit: 10 })).items.map((e) => e.action);
    assert.deepEqual(actions.sort(), ['certificate.acme_issued', 'certificate.acme_order']);

    const again = await api.call('POST', '/api/v1/certificate/acme/complete', { as: 'admin' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'ACME_NO_ORDER');
  });

  test('through the API with a DNS hook the order completes by itself', async () => {
    const hook = writeHook(tempDir());
    const { api, store } = await setup('api-hook', { dnsHook: hook.path });
    const issued = new Promise<ActiveCertificate>((resolve) => store.onChange(resolve));
    const ordered = await api.call('POST', '/api/v1/certificate/acme', {
      as: 'admin',
      body: { email: EMAIL },
    });
    assert.equal(ordered.status, 200, JSON.stringify(ordered.body));
    assert.equal(ordered.body.status, 'validating');
    const busy = await api.call('POST', '/api/v1/certificate/acme', { as: 'admin', body: { email: EMAIL } });
    assert.equal(busy.body.error?.code, 'ACME_BUSY');
    await assertIssuedByPebble(await issued);
    await settled(api);
    const seen = (await api.call('GET', '/api/v1/certificate', { as: 'user' })).body;
    assert.equal(seen.source, 'acme');
    assert.equal(seen.acme.dns_hook, true);
  });
});
