import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { parsePublicKeyLine } from '../../src/core/release/keys.js';
import { verifyIndex } from '../../src/core/release/store-index.js';
import { fetchVia } from '../cloud/gateway-fixture.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { kill, killAll, runWarren, spawnWarren, stdoutLinesOf, waitForLine } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

const MIB = 1024 * 1024;
const API = 'https://127.0.0.1:8443';

/*
 * `warren up` on its fixed ports: the manager enrols its scheduler, seed and
 * peer, prints root's one-time password once, and a download goes through the
 * seed peer. A second start on the same data keeps everything and prints no
 * password.
 */
describe('warren up', () => {
  let origin: Origin | undefined;
  after(async () => {
    await killAll();
    await origin?.close();
    cleanupTempDirs();
  });

  it('runs the manager with the distribution plane, and a get goes through the P2P network', async () => {
    const dir = tempDir('warren-up-');
    await mkdir(join(dir, 'www'));
    await makeRandomFile(join(dir, 'www', 'file.bin'), 6 * MIB);
    origin = await startOrigin({ dir: join(dir, 'www') });
    const data = join(dir, 'data');

    const up = spawnWarren(['up', '--data', data, '--log-level', 'warn'], { cwd: dir });
    const password = await waitForLine(
      up,
      (l) => /user 'root', one-time password (\S+)/.exec(l)?.[1],
      60_000,
    );
    await waitForLine(up, (l) => (l.includes('warren task ls') ? true : undefined), 30_000);

    const out = join(dir, 'file.out');
    const socket = join(data, 'peer', 'peer.sock');
    const get = await runWarren(['get', origin.url('file.bin'), '-O', out, '--socket', socket]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(await sha256File(out), await sha256File(join(dir, 'www', 'file.bin')));
    assert.ok(origin.bytesSent('file.bin') <= 6 * MIB * 1.1, 'the origin sent the file about once');

    // Root's one-time password works once, and must be changed first.
    const ca = readFileSync(join(data, 'manager', 'ca', 'ca.crt'), 'utf8');
    const dispatcher = new Agent({ connect: { ca } });
    const call = async (method: 'GET' | 'POST', path: string, body?: unknown, token?: string) => {
      const res = await request(`${API}${path}`, {
        method,
        dispatcher,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers
      return { status: res.statusCode, body: (text ? JSON.parse(text) : {}) as Record<string, any> };
    };
    try {
      const login = await call('POST', '/api/v1/auth/login', { name: 'root', password });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.user.must_change_password, true);
      const session = String(login.body.token);
      const blocked = await call('GET', '/api/v1/clusters', undefined, session);
      assert.equal(blocked.status, 403);
      const changed = await call(
        'POST',
        '/api/v1/users/me/password',
        { current_password: password, new_password: 'a-new-root-password-1' },
        session,
      );
      assert.ok(changed.status < 300, JSON.stringify(changed.body));
      const again = await call('POST', '/api/v1/auth/login', {
        name: 'root',
        password: 'a-new-root-password-1',
      });
      const token = String(again.body.token);
      // The scheduler and the seed registered with the manager by keepalive.
      const components = await call('GET', '/api/v1/clusters/cls_default/components', undefined, token);
      assert.equal(components.status, 200, JSON.stringify(components.body));
      const roles = (components.body.items as Array<{ role: string; state: string }>)
        .filter((c) => c.state === 'active')
        .map((c) => c.role)
        .sort();
      assert.deepEqual(roles, ['scheduler', 'seed']);
    } finally {
      await dispatcher.close();
    }

    // The store: the demo maintainer's sample app is listed as official, and the
    // signed index verifies with the store key and lists it.
    const storeAgent = new Agent({ connect: { ca } });
    try {
      const apps = await request('https://127.0.0.1:8444/api/v1/apps', { dispatcher: storeAgent });
      assert.equal(apps.statusCode, 200);
      const listed = (await apps.body.json()) as {
        items: Array<{ id: string; official: boolean; latest_version: string }>;
      };
      assert.deepEqual(
        listed.items.map((a) => [a.id, a.official, a.latest_version]),
        [['hello', true, '1.0.0']],
      );
      const index = await request('https://127.0.0.1:8444/api/v1/index', { dispatcher: storeAgent });
      const storeKey = parsePublicKeyLine(
        readFileSync(join(data, 'store', 'store-key.pub'), 'utf8'),
        'store key',
      );
      const verified = verifyIndex(await index.body.text(), { storeKey: storeKey.raw });
      assert.deepEqual(
        verified.index.apps.map((a) => [a.id, a.versions.map((v) => v.version)]),
        [['hello', ['1.0.0']]],
      );
    } finally {
      await storeAgent.close();
    }
    assert.ok(stdoutLinesOf(up).some((l) => /store admin 'admin', one-time password/.test(l)));

    // The cloud: console at https://warren.localhost:9443 on its self-signed wildcard
    // certificate; its admin's one-time password must be changed first; its
    // store page lists the sample app from the index it verified.
    const cloudPassword = stdoutLinesOf(up)
      .map((l) => /cloud admin 'admin', one-time password (\S+)/.exec(l)?.[1])
      .find(Boolean);
    assert.ok(cloudPassword, 'the cloud printed its admin password');
    const cloudCert = readFileSync(join(data, 'cloud', 'certs', 'active.crt'), 'utf8');
    const consoleOrigin = 'https://warren.localhost:9443';
    const cloudCall = async (method: string, path: string, body?: unknown, session?: string[]) => {
      const answer = await fetchVia(9443, cloudCert, 'warren.localhost', path, {
        method,
        headers: {
          origin: consoleOrigin,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(session ? { cookie: session[0]!, 'x-csrf-token': session[1]! } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers
      let json: any;
      try {
        json = JSON.parse(answer.text);
      } catch {}
      return { ...answer, json };
    };
    const page = await cloudCall('GET', '/');
    assert.equal(page.status, 200);
    assert.match(page.text, /<div id="root">/);
    const signIn = async (password: string) => {
      const answer = await cloudCall('POST', '/api/v1/login', { name: 'admin', password });
      assert.equal(answer.status, 200, answer.text);
      return {
        answer,
        session: [String(answer.headers['set-cookie']).split(';')[0]!, String(answer.json.csrf_token)],
      };
    };
    const first = await signIn(cloudPassword);
    assert.equal(first.answer.json.user.must_change_password, true);
    const changed = await cloudCall(
      'POST',
      '/api/v1/me/password',
      { current_password: cloudPassword, new_password: 'a-new-cloud-admin-password' },
      first.session,
    );
    assert.equal(changed.status, 204, changed.text);
    const { session } = await signIn('a-new-cloud-admin-password');
    const storeApps = await cloudCall('GET', '/api/v1/store/apps', undefined, session);
    assert.equal(storeApps.status, 200, storeApps.text);
    assert.deepEqual(
      (storeApps.json.apps as Array<{ id: string; official: boolean }>).map((a) => [a.id, a.official]),
      [['hello', true]],
    );
    // The settings page: the store configured, the serial of the index just accepted, Docker's state in words.
    const settings = await cloudCall('GET', '/api/v1/settings', undefined, session);
    assert.equal(settings.status, 200, settings.text);
    assert.equal(settings.json.console_url, consoleOrigin);
    assert.equal(settings.json.store.configured, true);
    assert.equal(settings.json.store.serial, storeApps.json.serial);
    assert.equal(typeof settings.json.docker.available, 'boolean');
    assert.ok(settings.json.docker.message.length > 0);

    // A second start on the same data: same CA, certificates kept, no new password.
    await kill(up);
    const second = spawnWarren(['up', '--data', data, '--log-level', 'warn'], { cwd: dir });
    await waitForLine(second, (l) => (l.includes('warren task ls') ? true : undefined), 60_000);
    assert.ok(!stdoutLinesOf(second).some((l) => l.includes('one-time password')));
    // The sample app is published once, not again on every start.
    const again = await request('https://127.0.0.1:8444/api/v1/apps/hello', {
      dispatcher: new Agent({ connect: { ca } }),
    });
    assert.equal(((await again.body.json()) as { versions: unknown[] }).versions.length, 1);
    assert.equal(readFileSync(join(data, 'manager', 'ca', 'ca.crt'), 'utf8'), ca);
    const out2 = join(dir, 'file2.out');
    const get2 = await runWarren(['get', origin.url('file.bin'), '-O', out2, '--socket', socket]);
    assert.equal(get2.code, 0, get2.stderr);
    assert.equal(await sha256File(out2), await sha256File(join(dir, 'www', 'file.bin')));
    await kill(second);
  });
});
