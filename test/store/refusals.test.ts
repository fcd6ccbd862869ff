import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { DEFAULT_RELEASE_LIMITS } from '../../src/core/release/types.js';
import { databaseFactory, databaseKinds } from '../helpers/manager.js';
import { makeMaintainer, signatureHeader, startTestStore } from '../helpers/store.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { type CorpusFile, slipTargets, writeCorpus } from '../release/corpus.js';
import { writeReleaseZip } from '../release-signing/release-zip.js';

after(cleanupTempDirs);

/*
 * The store runs the full release validator on every upload: each malicious
 * release of the corpus (test/release/corpus.ts) is refused with the
 * validator's code, the audit log says why, and nothing is stored — no row,
 * no blob, no temporary file, no quota charged, nothing written outside.
 */
let corpusDir: string;
let corpus: CorpusFile[];
before(async () => {
  corpusDir = tempDir('warren-store-corpus-');
  // Cases made for other limits than the format's are the validator tests' business.
  corpus = (await writeCorpus(corpusDir)).filter((f) => f.expect !== 'valid' && f.limits === undefined);
});

for (const { kind, skip } of databaseKinds()) {
  describe(`store upload refusals on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('every malicious release of the corpus is refused with its code, and nothing is stored', async () => {
      const s = await startTestStore({
        database: await databases.next(),
        flags: { 'rateLimit.uploadsPerMinute': 10_000 },
      });
      try {
        const alice = await makeMaintainer(s, 'alice');
        // Any well-formed signature: the validator runs first and refuses the zip.
        const sig = await signatureHeader(corpus[0]!.path, alice.keys, 'notes', '1.0.0');
        assert.ok(corpus.length >= 60, `corpus has ${corpus.length} malicious cases`);
        for (const file of corpus) {
          const bytes = readFileSync(file.path);
          const res = await s.call('POST', '/api/v1/releases', {
            token: alice.token,
            raw: bytes,
            headers: { 'x-warren-signature': sig },
          });
          const expected =
            bytes.length > DEFAULT_RELEASE_LIMITS.maxZipBytes ? 'RELEASE_TOO_LARGE' : file.expect;
          assert.equal(res.body?.error?.code, expected, `${file.name}: ${res.status} ${res.text}`);
          assert.ok(res.status >= 400 && res.status < 500, `${file.name}: status ${res.status}`);
        }
        const releases = await s.store.ctx.db.selectFrom('releases').selectAll().execute();
        assert.deepEqual(releases, []);
        assert.deepEqual(readdirSync(join(s.data, 'blobs', 'sha256')), []);
        assert.deepEqual(readdirSync(join(s.data, 'tmp')), []);
        for (const target of [...slipTargets(corpusDir), ...slipTargets(join(s.data, 'tmp'))]) {
          assert.throws(() => statSync(target), `${target} was not written`);
        }
        const me = await s.call('GET', '/api/v1/maintainers/me', { token: alice.token });
        assert.equal(me.body.used_bytes, 0);
        const refused = await s.store.ctx.db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.countAll<string | number>().as('n'))
          .where('action', '=', 'release.refused')
          .executeTakeFirstOrThrow();
        assert.equal(Number(refused.n), corpus.length);
      } finally {
        await s.stop();
      }
    });

    test('a body streamed past the size limit without a length, bad signatures, and no credential are refused', async () => {
      const s = await startTestStore({
        database: await databases.next(),
        flags: { 'limits.releaseSize': '256KiB' },
      });
      try {
        const alice = await makeMaintainer(s, 'alice');
        const zipPath = join(tempDir('warren-store-zip-'), 'notes.zip');
        await writeReleaseZip(zipPath, { id: 'notes', version: '1.0.0' });
        const zip = readFileSync(zipPath);
        const sig = await signatureHeader(zipPath, alice.keys, 'notes', '1.0.0');

        // Chunked: no Content-Length to refuse on, so the limit is counted while streaming.
        const chunks = Array.from({ length: 64 }, () => Buffer.alloc(16 * 1024, 1));
        const dispatcher = new Agent({ connect: { ca: s.caPem } });
        const streamed = await request(`${s.url}/api/v1/releases`, {
          method: 'POST',
          dispatcher,
          headers: {
            authorization: `Bearer ${alice.token}`,
            'content-type': 'application/zip',
            'x-warren-signature': sig,
          },
          body: Readable.from(chunks),
        }).then(
          async (res) => ({
            status: res.statusCode,
            body: (await res.body.json()) as { error: { code: string } },
          }),
          (err: Error) => ({ status: 0, body: { error: { code: err.message } } }),
        );
        await dispatcher.close();
        assert.equal(streamed.status, 413, JSON.stringify(streamed.body));
        assert.equal(streamed.body.error.code, 'RELEASE_TOO_LARGE');

        const cases: Array<[string, Record<string, string>, number, string]> = [
          ['no signature', {}, 422, 'SIGNATURE_MISSING'],
          ['not base64', { 'x-warren-signature': '!!!' }, 422, 'SIGNATURE_MALFORMED'],
          [
            'not a signature',
            { 'x-warren-signature': Buffer.from('{}').toString('base64') },
            422,
            'SIGNATURE_MALFORMED',
          ],
          [
            'signs other bytes',
            {
              'x-warren-signature': await signatureHeader(
                corpusFileOf('valid'),
                alice.keys,
                'notes',
                '1.0.0',
              ),
            },
            422,
            'SIGNATURE_OTHER_BYTES',
          ],
          [
            'signs another version',
            { 'x-warren-signature': await signatureHeader(zipPath, alice.keys, 'notes', '1.0.1') },
            422,
            'SIGNATURE_OTHER_APP',
          ],
        ];
        for (const [what, headers, status, code] of cases) {
          const res = await s.call('POST', '/api/v1/releases', { token: alice.token, raw: zip, headers });
          assert.equal(res.status, status, `${what}: ${res.text}`);
          assert.equal(res.body.error.code, code, what);
        }
        const anonymous = await s.call('POST', '/api/v1/releases', {
          raw: zip,
          headers: { 'x-warren-signature': sig },
        });
        assert.equal(anonymous.status, 401);
        const wrongType = await s.call('POST', '/api/v1/releases', {
          token: alice.token,
          raw: zip,
          headers: { 'x-warren-signature': sig, 'content-type': 'application/octet-stream' },
        });
        assert.equal(wrongType.status, 415);

        assert.deepEqual(await s.store.ctx.db.selectFrom('releases').selectAll().execute(), []);
        assert.deepEqual(readdirSync(join(s.data, 'blobs', 'sha256')), []);
        assert.deepEqual(readdirSync(join(s.data, 'tmp')), []);
        // And the release itself still goes in afterwards.
        const ok = await s.call('POST', '/api/v1/releases', {
          token: alice.token,
          raw: zip,
          headers: { 'x-warren-signature': sig },
        });
        assert.equal(ok.status, 201, ok.text);
      } finally {
        await s.stop();
      }
    });
  });
}

/** A valid corpus release (other bytes than the test's own zip). */
function corpusFileOf(expect: string): string {
  return join(corpusDir, `${readdirSync(corpusDir).find((n) => n.startsWith(expect))}`);
}
