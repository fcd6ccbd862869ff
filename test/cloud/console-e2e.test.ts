import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { Client } from 'undici';
import { Cloud } from '../../src/cloud/cloud.js';
import { CloudConfigSchema } from '../../src/cloud/config.js';
import { loadConfig } from '../../src/core/config.js';
import { launchBrowser, newContext, requireChromium, spkiHashOf } from '../helpers/browser.js';
import { freePort } from '../helpers/registry.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { fetchVia } from './gateway-fixture.js';
import { APP_ID, type CloudStack, PAGE, stackSkip, startCloudStack } from './helpers-stack.js';

/*
 * Issue 6, "What must be shown" 1, end to end in Chromium against the real
 * cloud (`Cloud`, the one HTTPS gateway on its self-signed wildcard
 * certificate) with the real store, P2P peers, docker-registry and dockerd:
 * the admin signs in, installs the app from the store, opens it through the
 * gateway and sees its page; a second user without access is refused;
 * signing out ends access to the app.
 */

const DOMAIN = 'cloud.test';
const ADMIN_PASSWORD = 'e2e-admin-password-long-enough';
const BOB_PASSWORD = 'bob-password-long-enough';
const skip = stackSkip() ?? requireChromium();

describe('the console, end to end in Chromium', { skip, timeout: 900_000 }, () => {
  let stack: CloudStack;
  let cloud: Cloud;
  let browser: Browser;
  let port: number;
  let certPem: string;
  let origin: string;

  /** A request through the gateway as a non-browser client would send it. */
  const call = (host: string, path: string, options: Parameters<typeof fetchVia>[4] = {}) =>
    fetchVia(port, certPem, host, path, options);

  before(async () => {
    stack = await startCloudStack();
    await stack.publish('1.0.0');
    const data = tempDir('warren-cloud-e2e-');
    const passwordFile = join(data, 'admin-password');
    writeFileSync(passwordFile, `${ADMIN_PASSWORD}\n`, { mode: 0o600 });
    const storeKeyFile = join(data, 'store-key.pub');
    writeFileSync(storeKeyFile, `${stack.store.store.ctx.key.line}\n`);
    port = await freePort();
    origin = `https://${DOMAIN}:${port}`;
    cloud = new Cloud({
      config: loadConfig(CloudConfigSchema, {
        flags: {
          data: join(data, 'cloud'),
          domain: DOMAIN,
          listen: `127.0.0.1:${port}`,
          httpListen: '',
          publicPort: port,
          adminPasswordFile: passwordFile,
          'store.url': stack.front.url,
          'store.caFile': stack.caBundle,
          'store.keyFile': storeKeyFile,
          'peer.socket': stack.peer.socket,
          'peer.mirror': stack.mirror.replace(/^http:\/\//, ''),
          'docker.socket': stack.dockerd.socket,
          'sandbox.memory': '256MiB',
          'sandbox.cpus': 1,
          'sandbox.pids': 256,
          logLevel: 'silent',
        },
      }),
    });
    const started = await cloud.start();
    assert.equal(started.console, origin);
    assert.equal(started.docker.available, true, started.docker.message);
    certPem = readFileSync(join(data, 'cloud', 'certs', 'active.crt'), 'utf8');
    browser = await launchBrowser({ trustSpki: [spkiHashOf(certPem)] });
  });

  after(async () => {
    await browser?.close();
    await cloud?.stop();
    await stack?.stop();
    cleanupTempDirs();
  });

  let adminAppCookie: string | undefined;

  it('signs in, installs the sample app from the store, opens it through the gateway and sees its page', async () => {
    const context = await newContext(browser, { viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    // A wrong password first: the real API's refusal, in words.
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill('not-the-admin-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('The name or password is wrong.').waitFor();
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();

    await page.goto(`${origin}/#/store`);
    const card = page.getByRole('article', { name: APP_ID });
    await card.getByRole('button', { name: 'Install', exact: true }).click();
    const dialog = page.getByRole('dialog');
    // The permissions are shown before the admin confirms: the service and its image.
    await dialog.getByText(stack.imageRef).first().waitFor({ timeout: 60_000 });
    await dialog.getByRole('button', { name: 'Install 1.0.0' }).click();
    await dialog.getByRole('button', { name: 'Open' }).click({ timeout: 300_000 });

    await page.waitForURL(`https://${APP_ID}.${DOMAIN}:${port}/`, { timeout: 30_000 });
    await page.getByText(PAGE).waitFor({ timeout: 30_000 });
    const cookies = await context.cookies(`https://${APP_ID}.${DOMAIN}:${port}/`);
    adminAppCookie = cookies.find((c) => c.name === '__Host-warren-app')?.value;
    assert.ok(adminAppCookie, 'the gateway set the app cookie on the app host');
    // Host-only: never on the parent domain where sibling apps would see it.
    assert.equal(cookies.find((c) => c.name === '__Host-warren-app')?.domain, `${APP_ID}.${DOMAIN}`);

    // The release zip came through the local peer, by its digest.
    const peerApi = new Client('http://localhost', { socketPath: stack.peer.socket });
    const tasks = (await (await peerApi.request({ method: 'GET', path: '/v1/tasks' })).body.json()) as {
      tasks: Array<{ url: string }>;
    };
    await peerApi.close();
    assert.ok(
      tasks.tasks.some((t) => t.url.includes('/releases/sha256:')),
      'the peer fetched the release',
    );
    (globalThis as { e2eAdminContext?: unknown }).e2eAdminContext = context;
  });

  it('recovers when the Docker Engine restarts under a running app', async () => {
    const viaGateway = () =>
      call(`${APP_ID}.${DOMAIN}`, '/', { headers: { cookie: `__Host-warren-app=${adminAppCookie}` } });
    assert.equal((await viaGateway()).status, 200);
    await stack.dockerd.restart();
    // The app's restart policy brings it back (maybe on a new address); the
    // gateway finds it again without a restart of its own.
    const deadline = Date.now() + 90_000;
    let last = await viaGateway().catch((err: Error) => ({ status: 0, text: err.message }));
    while (!(last.status === 200 && last.text.includes(PAGE)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      last = await viaGateway().catch((err: Error) => ({ status: 0, text: err.message }));
    }
    assert.equal(last.status, 200, last.text.slice(0, 300));
    assert.ok(last.text.includes(PAGE));
  });

  it('refuses a second user without access to the app', async () => {
    const adminLogin = await call(DOMAIN, '/api/v1/login', {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(adminLogin.status, 200, adminLogin.text);
    const session = {
      cookie: String(adminLogin.headers['set-cookie']).split(';')[0]!,
      csrf: JSON.parse(adminLogin.text).csrf_token as string,
    };
    const asAdmin = (method: string, path: string, body: unknown) =>
      call(DOMAIN, path, {
        method,
        headers: {
          origin,
          cookie: session.cookie,
          'x-csrf-token': session.csrf,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    const invitation = await asAdmin('POST', '/api/v1/invitations', { role: 'user' });
    assert.equal(invitation.status, 201, invitation.text);
    const joined = await call(DOMAIN, '/api/v1/join', {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ code: JSON.parse(invitation.text).code, name: 'bob', password: BOB_PASSWORD }),
    });
    assert.equal(joined.status, 201, joined.text);
    const access = await asAdmin('PUT', `/api/v1/apps/${APP_ID}/access`, { mode: 'chosen', user_ids: [] });
    assert.equal(access.status, 200, access.text);

    const context = await newContext(browser, { viewport: { width: 375, height: 667 } });
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.getByLabel('Name').fill('bob');
    await page.getByLabel('Password').fill(BOB_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // Bob goes straight to the app's address: the gateway sends him to the
    // console, which asks for a handoff and is refused.
    await page.goto(`https://${APP_ID}.${DOMAIN}:${port}/`);
    await page.waitForURL(`${origin}/#/open/${APP_ID}`);
    await page
      .getByText(/APP_FORBIDDEN|not allowed|no access|access/i)
      .first()
      .waitFor();
    assert.equal(await page.getByText(PAGE).count(), 0);
    const bobCookies = await context.cookies(`https://${APP_ID}.${DOMAIN}:${port}/`);
    assert.equal(
      bobCookies.find((c) => c.name === '__Host-warren-app'),
      undefined,
    );
    await context.close();
  });

  it('signing out ends access to the app', async () => {
    const context = (globalThis as { e2eAdminContext?: import('playwright-core').BrowserContext })
      .e2eAdminContext!;
    const page = context.pages()[0]!;
    await page.goto(`${origin}/#/apps`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The browser still holds the app cookie; the gateway no longer honours it.
    await page.goto(`https://${APP_ID}.${DOMAIN}:${port}/`);
    await page.waitForURL(new RegExp(`^${origin.replaceAll('.', '\\.')}/`));
    assert.equal(await page.getByText(PAGE).count(), 0);
    const direct = await call(`${APP_ID}.${DOMAIN}`, '/', {
      headers: { cookie: `__Host-warren-app=${adminAppCookie}`, accept: 'application/json' },
    });
    assert.equal(direct.status, 401, direct.text);
    assert.ok(!direct.text.includes(PAGE));
    await context.close();
  });
});
