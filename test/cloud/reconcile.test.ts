import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type ReconcileReport, reconcileApps } from '../../src/cloud/apps/reconcile.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { APP_ID, type CloudStack, PAGE, stackSkip, startCloudStack } from './helpers-stack.js';
import { INSTANCE_ID, type TestCloud } from './helpers-stack-cloud.js';

/*
 * Issue 6, what must be shown 4 (part): the cloud killed between image load
 * and container start; the next start repairs it (the install resumes from
 * its step, the release verified again, the loaded image reused) or reports
 * it (state failed, naming the step and the error). And the engine made to
 * match the database: objects carrying this instance's label but no app are
 * removed and reported (the volumes of an app uninstalled with "keep data"
 * excepted), and an app whose containers vanished is created again.
 */

const skip = stackSkip();
const LABEL = `label=dev.warren.instance=${INSTANCE_ID}`;

async function httpGet(host: string, port: number): Promise<string | undefined> {
  try {
    const res = await request(`http://${host}:${port}/`, { headersTimeout: 3000, bodyTimeout: 3000 });
    return await res.body.text();
  } catch {
    return undefined;
  }
}

describe('reconcile at cloud start', { skip, timeout: 600_000 }, () => {
  let stack: CloudStack;
  let data: string;
  const opened: TestCloud[] = [];

  before(async () => {
    stack = await startCloudStack();
    data = tempDir('warren-reconcile-data-');
    await stack.publish('1.0.0');
    await stack.publish('1.1.0');
  });

  after(async () => {
    for (const cloud of opened) await cloud.close().catch(() => {});
    await stack?.stop();
    cleanupTempDirs();
  });

  /** A cloud on the shared data folder; with `crashAfter`, its installer "dies" after that step. */
  async function start(crashAfter?: 'fetched' | 'loaded'): Promise<TestCloud> {
    const cloud = await stack.newCloud({
      data,
      ...(crashAfter
        ? {
            hooks: {
              afterStep: (_app: string, step: string) => {
                if (step === crashAfter) throw new Error(`killed after '${step}'`);
              },
            },
          }
        : {}),
    });
    opened.push(cloud);
    return cloud;
  }

  async function restart(previous: TestCloud): Promise<{ cloud: TestCloud; report: ReconcileReport }> {
    await previous.close();
    const cloud = await start();
    const report = await reconcileApps({
      installer: cloud.installer,
      sandbox: cloud.sandbox,
      audit: cloud.auth.audit,
      log: stack.log,
    });
    return { cloud, report };
  }

  async function docker(...args: string[]): Promise<string> {
    const out = await stack.dockerd.docker(args);
    assert.equal(out.code, 0, `docker ${args.join(' ')}: ${out.stderr}`);
    return out.stdout.trim();
  }

  it('a killed install that can no longer be verified is reported: failed, naming the step and the error', async () => {
    const dying = await start('fetched');
    const res = await dying.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.1.0' });
    assert.equal(res.status, 202, res.text);
    await dying.installer.idle();
    assert.equal(dying.installer.halted, true);
    assert.equal((await dying.installer.get(APP_ID))?.state, 'loading', 'the row stays in its step');

    // Meanwhile the maintainer yanks the version: the resumed install must not go on.
    const yank = await stack.store.call('POST', `/api/v1/apps/${APP_ID}/versions/1.1.0/yank`, {
      token: stack.maintainer.token,
      body: { reason: 'broken' },
    });
    assert.ok(yank.status < 300, yank.text);

    const { cloud, report } = await restart(dying);
    const row = await cloud.installer.get(APP_ID);
    assert.equal(row?.state, 'failed');
    assert.match(row!.state_detail, /^loading failed: RELEASE_YANKED: /);
    assert.deepEqual(report.failed, [{ app_id: APP_ID, state: 'failed', detail: row!.state_detail }]);
    assert.deepEqual(report.repaired, []);
    assert.equal(await docker('ps', '-aq', '--filter', LABEL), '', 'no container was made');

    const removed = await cloud.call('DELETE', `/api/v1/apps/${APP_ID}?keep_data=false`);
    assert.equal(removed.status, 202, removed.text);
    await cloud.installer.idle();
    assert.equal(await cloud.installer.get(APP_ID), undefined);
  });

  it('killed between image load and container start: the next start resumes, reusing the loaded image', async () => {
    const dying = await start('loaded');
    const res = await dying.call('POST', '/api/v1/apps', { app_id: APP_ID, version: '1.0.0' });
    assert.equal(res.status, 202, res.text);
    await dying.installer.idle();
    assert.equal(dying.installer.halted, true);
    const left = await dying.installer.get(APP_ID);
    assert.equal(left?.state, 'creating');
    assert.deepEqual(JSON.parse(left!.images), { web: stack.image.configDigest }, 'the image was loaded');
    assert.equal(await docker('ps', '-aq', '--filter', LABEL), '', 'no container yet');
    const manifestGets = () =>
      stack.registryFront.requests().filter((r) => r.path.includes('/manifests/')).length;
    const before = manifestGets();

    const { cloud, report } = await restart(dying);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(report.repaired, [
      { app_id: APP_ID, action: "resumed its install from 'creating': running" },
    ]);
    const row = await cloud.installer.get(APP_ID);
    assert.equal(row?.state, 'running', row?.state_detail);
    assert.equal(manifestGets(), before, 'the loaded image was reused, not pulled again');
    const route = await cloud.installer.route(APP_ID);
    assert.equal(route?.kind, 'running');
    if (route?.kind === 'running') {
      let page: string | undefined;
      for (let i = 0; i < 40 && !page; i++) {
        page = await httpGet(route.host, route.port);
        if (!page) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.match(page ?? '', new RegExp(PAGE));
    }
    const audit = await cloud.database.db.selectFrom('audit_log').select('action').execute();
    assert.ok(audit.some((a) => a.action === 'app.reconcile.repaired'));
  });

  it('removes and reports labelled objects without an app, keeps kept data, recreates missing containers', async () => {
    let cloud = opened.at(-1)!;
    // A container, network and volume with this instance's label but no app row (e.g. a lost database).
    await docker(
      'network',
      'create',
      '--label',
      `dev.warren.instance=${INSTANCE_ID}`,
      '--label',
      'dev.warren.app=ghost',
      'ghost-net',
    );
    await docker(
      'volume',
      'create',
      '--label',
      `dev.warren.instance=${INSTANCE_ID}`,
      '--label',
      'dev.warren.app=ghost',
      'ghost-data',
    );
    const ghost = await docker(
      'create',
      '--label',
      `dev.warren.instance=${INSTANCE_ID}`,
      '--label',
      'dev.warren.app=ghost',
      '--network',
      'ghost-net',
      stack.image.configDigest,
      '/bin/busybox',
      'sleep',
      '600',
    );
    // The data of an app uninstalled with "keep data" stays.
    await cloud.installer.kept.add('keeper', '1.0.0');
    await docker(
      'volume',
      'create',
      '--label',
      `dev.warren.instance=${INSTANCE_ID}`,
      '--label',
      'dev.warren.app=keeper',
      'keeper-data',
    );
    // Something that is not this instance's is never touched.
    await docker(
      'volume',
      'create',
      '--label',
      'dev.warren.instance=another',
      '--label',
      'dev.warren.app=ghost',
      'foreign-data',
    );
    // The app's container vanished while the cloud was down.
    const appContainers = await docker(
      'ps',
      '-aq',
      '--filter',
      LABEL,
      '--filter',
      `label=dev.warren.app=${APP_ID}`,
    );
    assert.notEqual(appContainers, '');
    await docker('rm', '-f', ...appContainers.split('\n'));

    const restarted = await restart(cloud);
    cloud = restarted.cloud;
    const { report } = restarted;
    assert.deepEqual(report.failed, []);
    assert.equal(report.removed.length, 1, JSON.stringify(report.removed));
    const removed = report.removed[0]!;
    assert.equal(removed.app_id, 'ghost');
    assert.deepEqual(removed.containers, [ghost]);
    assert.deepEqual(removed.networks, ['ghost-net']);
    assert.deepEqual(removed.volumes, ['ghost-data']);
    assert.deepEqual(report.repaired, [
      { app_id: APP_ID, action: 'containers of web were missing: created again and started' },
    ]);
    const volumes = (await docker('volume', 'ls', '-q')).split('\n');
    assert.ok(!volumes.includes('ghost-data'), 'the orphan volume is gone');
    assert.ok(volumes.includes('keeper-data'), 'kept data stays');
    assert.ok(volumes.includes('foreign-data'), "another instance's volume is not touched");
    assert.equal(
      await stack.dockerd.docker(['inspect', ghost]).then((r) => r.code),
      1,
      'the orphan container is gone',
    );
    const audit = await cloud.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'app.reconcile.orphan_removed')
      .execute();
    assert.equal(audit.length, 1);
    assert.match(audit[0]!.detail, /ghost-data/);
    const route = await cloud.installer.route(APP_ID);
    assert.equal(route?.kind, 'running');
    await docker('volume', 'rm', 'foreign-data');
  });
});
