import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { databaseFactory, databaseKinds } from '../helpers/manager.js';
import { killAll, type RunResult, runWarren } from '../helpers/processes.js';
import { ADMIN_PASSWORD, startTestStore, storeLogin } from '../helpers/store.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { appYml, composeYml } from '../release-signing/release-zip.js';

after(async () => {
  await killAll();
  cleanupTempDirs();
});

function ok(r: RunResult, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

function refused(r: RunResult, code: string): void {
  assert.equal(r.code, 1, `expected ${code}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
}

/*
 * The round trip through the real executable: keygen → pack → sign →
 * publish → index → download → verify, the way a maintainer and an instance
 * do it. The fetching side pins the store key, keeps the newest index serial
 * it saw, and refuses a replayed older index.
 */
for (const { kind, skip } of databaseKinds()) {
  describe(`store round trip through the CLI on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    after(() => databases.close());

    test('keygen, pack, sign, publish, fetch with a verifying client, verify; a replayed index is refused', async () => {
      const s = await startTestStore({ database: await databases.next() });
      const dir = tempDir('warren-round-trip-');
      const at = (...p: string[]) => join(dir, ...p);
      const warren = (args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}) =>
        runWarren(args, {
          cwd: dir,
          env: { WARREN_KEY_PASSPHRASE_FILE: '', WARREN_STORE_TOKEN: '', ...options.env },
          ...(options.stdin ? { stdin: options.stdin } : {}),
        });
      const store = ['--store', s.url, '--ca', s.caFile];
      try {
        ok(await warren(['app', 'keygen', '--out', at('keys'), '--comment', 'alice@test']), 'keygen');
        const publicLine = readFileSync(at('keys', 'maintainer.pub'), 'utf8').trim();

        // The admin invites alice; she registers with her key and makes an API token.
        const admin = await storeLogin(s, 'admin', ADMIN_PASSWORD);
        const code = (await s.call('POST', '/api/v1/invitations', { session: admin })).body.code;
        const password = 'alice-password-123';
        const registered = await s.call('POST', '/api/v1/maintainers', {
          body: { name: 'alice', password, public_key: publicLine, invitation: code },
        });
        assert.equal(registered.status, 201, registered.text);
        const token = ok(
          await warren(['store', 'token', 'create', ...store, '--user', 'alice', '--password-stdin'], {
            stdin: `${password}\n`,
          }),
          'token create',
        ).trim();
        assert.match(token, /^wst_/);
        const env = { WARREN_STORE_TOKEN: token };

        const release = (version: string) => {
          const src = at(`src-${version}`);
          mkdirSync(src, { recursive: true });
          writeFileSync(join(src, 'app.yml'), appYml({ id: 'notes', version }));
          writeFileSync(join(src, 'docker-compose.yml'), composeYml({ id: 'notes', version }));
          return src;
        };
        ok(await warren(['app', 'pack', release('1.0.0'), '-o', at('notes-1.0.0.zip')]), 'pack');
        ok(
          await warren(['app', 'sign', at('notes-1.0.0.zip'), '--key', at('keys', 'maintainer.key')]),
          'sign',
        );
        // Without a token the CLI does not even try.
        refused(await warren(['app', 'publish', at('notes-1.0.0.zip'), ...store]), 'NOT_LOGGED_IN');
        const published = ok(
          await warren(['app', 'publish', at('notes-1.0.0.zip'), ...store, '--json'], { env }),
          'publish',
        );
        const answer = JSON.parse(published);
        assert.match(answer.url, new RegExp(`^${s.url}/releases/sha256:[0-9a-f]{64}$`));

        const storeKey = join(s.data, 'store-key.pub');
        const state = at('index-state.json');
        const fetch = (extra: string[] = []) =>
          warren([
            'app',
            'fetch',
            'notes',
            ...store,
            '--store-key',
            storeKey,
            '--state',
            state,
            '--out',
            at('fetched'),
            '--json',
            ...extra,
          ]);
        const fetched = JSON.parse(ok(await fetch(), 'fetch'));
        assert.equal(fetched.version, '1.0.0');
        assert.equal(fetched.sha256, answer.sha256);
        assert.deepEqual(readFileSync(fetched.zip), readFileSync(at('notes-1.0.0.zip')));
        ok(await warren(['app', 'verify', fetched.zip, '--key', at('keys', 'maintainer.pub')]), 'verify');
        const firstSerial = JSON.parse(readFileSync(state, 'utf8')).serial as number;

        // Keep this index, as a mirror or an attacker could, then publish a new version.
        const oldIndex = at('old-index.json');
        writeFileSync(oldIndex, (await s.call('GET', '/api/v1/index')).text);
        ok(await warren(['app', 'pack', release('1.1.0'), '-o', at('notes-1.1.0.zip')]), 'pack 1.1.0');
        ok(
          await warren(['app', 'sign', at('notes-1.1.0.zip'), '--key', at('keys', 'maintainer.key')]),
          'sign 1.1.0',
        );
        ok(await warren(['app', 'publish', at('notes-1.1.0.zip'), ...store], { env }), 'publish 1.1.0');
        const newer = JSON.parse(ok(await fetch(), 'fetch 1.1.0'));
        assert.equal(newer.version, '1.1.0');
        const seen = JSON.parse(readFileSync(state, 'utf8')).serial as number;
        assert.ok(seen > firstSerial);

        // The replayed older index (it would hide 1.1.0) is refused, and the state keeps the newest serial.
        refused(await fetch(['--index-file', oldIndex]), 'INDEX_ROLLBACK');
        assert.equal(JSON.parse(readFileSync(state, 'utf8')).serial, seen);
        // An index checked against another pinned key is refused too.
        ok(await warren(['app', 'keygen', '--out', at('other')]), 'keygen other');
        refused(
          await warren([
            'app',
            'fetch',
            'notes',
            ...store,
            '--store-key',
            at('other', 'maintainer.pub'),
            '--state',
            at('s2.json'),
            '--out',
            at('f2'),
          ]),
          'INDEX_SIGNATURE_INVALID',
        );

        // Yanked: not offered any more; the version before it is.
        ok(await warren(['app', 'yank', 'notes', '1.1.0', ...store, '--reason', 'test'], { env }), 'yank');
        assert.equal(JSON.parse(ok(await fetch(), 'fetch after yank')).version, '1.0.0');
        refused(
          await warren([
            'app',
            'fetch',
            'notes@1.1.0',
            ...store,
            '--store-key',
            storeKey,
            '--state',
            state,
            '--out',
            at('f3'),
          ]),
          'RELEASE_YANKED',
        );

        // Key rotation through the CLI: the new key publishes, fetch verifies under it.
        ok(await warren(['app', 'keygen', '--out', at('keys2')]), 'keygen 2');
        ok(
          await warren(
            [
              'app',
              'rotate-key',
              ...store,
              '--old-key',
              at('keys', 'maintainer.key'),
              '--new-key',
              at('keys2', 'maintainer.key'),
            ],
            { env },
          ),
          'rotate-key',
        );
        ok(await warren(['app', 'pack', release('1.2.0'), '-o', at('notes-1.2.0.zip')]), 'pack 1.2.0');
        ok(
          await warren(['app', 'sign', at('notes-1.2.0.zip'), '--key', at('keys', 'maintainer.key')]),
          'sign with the old key',
        );
        refused(
          await warren(['app', 'publish', at('notes-1.2.0.zip'), ...store], { env }),
          'SIGNATURE_WRONG_KEY',
        );
        ok(
          await warren(['app', 'sign', at('notes-1.2.0.zip'), '--key', at('keys2', 'maintainer.key')]),
          'sign with the new key',
        );
        ok(await warren(['app', 'publish', at('notes-1.2.0.zip'), ...store], { env }), 'publish 1.2.0');
        assert.equal(JSON.parse(ok(await fetch(), 'fetch 1.2.0')).version, '1.2.0');
        const old = JSON.parse(
          ok(
            await warren([
              'app',
              'fetch',
              'notes@1.0.0',
              ...store,
              '--store-key',
              storeKey,
              '--state',
              state,
              '--out',
              at('f4'),
              '--json',
            ]),
            'fetch 1.0.0 after rotation',
          ),
        );
        assert.equal(
          old.key_id,
          JSON.parse(
            ok(
              await warren([
                'app',
                'verify',
                old.zip,
                '--key',
                at('keys2', 'maintainer.pub'),
                '--sig',
                `${old.zip}.sig`,
                '--json',
              ]),
              'verify under the new key',
            ),
          ).key_id,
        );
      } finally {
        await s.stop();
      }
    });
  });
}
