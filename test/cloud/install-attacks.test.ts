import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateMaintainerKey } from '../../src/core/release/keys.js';
import { cleanupTempDirs } from '../helpers/tmp.js';
import { APP_ID, type CloudStack, stackSkip, startCloudStack } from './helpers-stack.js';
import { INSTANCE_ID, type TestCloud } from './helpers-stack-cloud.js';

/*
 * Issue 6, attacks on an install, each tried for real against the real
 * store, peers and engine, and each refused with its code with NOTHING
 * installed: no app running, no container, network or volume, no image
 * loaded, no release kept.
 * - a release signed by another key than the one the index binds the app to;
 * - a release whose bytes are not the ones the index lists (the store's
 *   blob corrupted: the peer refuses the content);
 * - an index with a lower serial than one already accepted (a replay): the
 *   newer one stays, the install is refused;
 * - a compose escape (`privileged: true`) slipped past the store into its
 *   blob folder and database: the instance validates again.
 */

const skip = stackSkip();

describe('install attacks are refused and install nothing', { skip, timeout: 600_000 }, () => {
  let stack: CloudStack;
  let cloud: TestCloud;

  before(async () => {
    stack = await startCloudStack();
    cloud = await stack.newCloud();
    // The app exists in the store, bound to alice's key.
    await stack.publish('1.0.0');
  });

  after(async () => {
    await cloud?.close();
    await stack?.stop();
    cleanupTempDirs();
  });

  async function nothingInstalled(what: string): Promise<void> {
    const rows = await cloud.installer.list();
    assert.ok(
      rows.every((r) => r.state !== 'running'),
      `${what}: no app runs (${rows.map((r) => `${r.id} ${r.state}`).join(', ')})`,
    );
    const label = `label=dev.warren.instance=${INSTANCE_ID}`;
    for (const kind of [
      ['ps', '-aq'],
      ['network', 'ls', '-q'],
      ['volume', 'ls', '-q'],
    ]) {
      const out = await stack.dockerd.docker([...kind, '--filter', label]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout.trim(), '', `${what}: nothing from docker ${kind.join(' ')}`);
    }
    const images = await stack.dockerd.docker(['images', '-q']);
    assert.equal(images.stdout.trim(), '', `${what}: no image loaded`);
    const kept = readdirSync(join(cloud.data, 'releases'));
    assert.deepEqual(kept, [], `${what}: no release kept`);
    assert.equal(
      await cloud.installer.route(APP_ID).then((r) => r?.kind),
      rows.length ? 'unavailable' : undefined,
    );
  }

  /** Installs `version` and waits; the app's row afterwards. */
  async function install(version: string) {
    const res = await cloud.call('POST', '/api/v1/apps', { app_id: APP_ID, version });
    assert.equal(res.status, 202, res.text);
    await cloud.installer.idle();
    return (await cloud.installer.get(APP_ID))!;
  }

  it('a release signed by another key than the index lists: SIGNATURE_WRONG_KEY', async () => {
    await stack.inject('1.1.0', stack.compose(), generateMaintainerKey());
    const row = await install('1.1.0');
    assert.equal(row.state, 'failed');
    assert.match(row.state_detail, /^fetching failed: SIGNATURE_WRONG_KEY: /);
    await nothingInstalled('wrong signer');
    const audit = await cloud.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'app.install.failed')
      .execute();
    assert.match(audit.at(-1)!.detail, /SIGNATURE_WRONG_KEY/);
  });

  it("a release whose bytes do not match the index's digest: RELEASE_DIGEST_MISMATCH", async () => {
    const { sha256 } = await stack.publish('1.2.0');
    // The store's copy is altered after it was listed (same size, one byte flipped).
    const path = stack.store.store.ctx.blobs.pathOf(sha256);
    const fd = openSync(path, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 100);
    byte[0]! ^= 0xff;
    writeSync(fd, byte, 0, 1, 100);
    closeSync(fd);
    const row = await install('1.2.0');
    assert.equal(row.state, 'failed');
    assert.match(row.state_detail, /^fetching failed: RELEASE_DIGEST_MISMATCH: /);
    await nothingInstalled('other bytes');
    const task = await cloud.peer.task(sha256);
    assert.equal(task, undefined, 'the peer kept none of the bytes');
  });

  it('a compose escape slipped past the store: validated again here, COMPOSE_FORBIDDEN_KEY', async () => {
    await stack.inject('1.4.0', stack.compose({ privileged: true }), stack.maintainer.keys);
    const preview = await cloud.call('GET', `/api/v1/store/apps/${APP_ID}/versions/1.4.0`);
    assert.equal(preview.status, 422);
    assert.equal(preview.body.error.code, 'COMPOSE_FORBIDDEN_KEY');
    assert.match(preview.body.error.message, /privileged/);
    const row = await install('1.4.0');
    assert.equal(row.state, 'failed');
    assert.match(row.state_detail, /^fetching failed: COMPOSE_FORBIDDEN_KEY: .*privileged/);
    await nothingInstalled('compose escape');
  });

  it('an index with a lower serial than one accepted: INDEX_ROLLBACK, the newer one kept', async () => {
    const old = await stack.store.call('GET', '/api/v1/index');
    assert.equal(old.status, 200);
    await stack.publish('1.3.0');
    const fresh = await cloud.call('GET', '/api/v1/store/apps');
    assert.equal(fresh.status, 200, fresh.text);
    const accepted = fresh.body.serial as number;
    assert.ok(fresh.body.apps[0].versions.some((v: { version: string }) => v.version === '1.3.0'));

    stack.front.index = old.text; // a replay of the older, validly signed index
    try {
      const listed = await cloud.call('GET', '/api/v1/store/apps');
      assert.equal(listed.status, 502);
      assert.equal(listed.body.error.code, 'INDEX_ROLLBACK');
      const refused = await cloud.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.3.0' });
      assert.equal(refused.status, 502);
      assert.equal(refused.body.error.code, 'INDEX_ROLLBACK');
      const state = await cloud.database.db.selectFrom('store_state').selectAll().executeTakeFirstOrThrow();
      assert.equal(Number(state.serial), accepted, 'the newer index stays accepted');
      assert.equal((await cloud.installer.get(APP_ID))?.version, '1.4.0', 'the app row was not touched');
      await nothingInstalled('rollback');
    } finally {
      stack.front.index = undefined;
    }
  });
});
