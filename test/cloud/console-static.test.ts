import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { build as viteBuild } from 'vite';
import {
  type CloudAccess,
  CloudAccessSchema,
  type CloudPrincipal,
  cloudDenial,
} from '../../src/cloud/http/access.js';
import { CONSOLE_CSP, registerConsoleRoutes } from '../../src/cloud/routes/console.js';
import { WarrenError } from '../../src/core/errors.js';
import { buildRestApp, type RestApp } from '../../src/core/http/app.js';
import { silentLogger } from '../../src/core/log.js';
import {
  hasHorizontalScroll,
  launchBrowser,
  newContext,
  requireChromium,
  watchPage,
} from '../helpers/browser.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

/*
 * The console as built from web/ (Vite, into a temp folder), served by
 * registerConsoleRoutes from a cloud REST app on loopback plain HTTP, and
 * loaded in real Chromium on a phone-sized screen. The sign-in flow against
 * the real auth routes, installs and opening apps are the end-to-end test's;
 * here the only API routes are two stand-ins answering as the contract says
 * for a signed-out visitor (GET /api/v1/me: 401, POST /api/v1/login: 401
 * INVALID_CREDENTIALS), so the page's own behaviour can be checked.
 */

after(cleanupTempDirs);

let webRoot: string;
let app: RestApp;
let base: string;

async function startServer(root: string): Promise<{ app: RestApp; base: string }> {
  const server = await buildRestApp<CloudAccess, CloudPrincipal>({
    title: 'Warren cloud API (console test)',
    https: null,
    logger: silentLogger(),
    accessSchema: CloudAccessSchema,
    authenticate: async () => {
      throw new WarrenError('UNAUTHORIZED', 'sign in first', 401);
    },
    denial: cloudDenial,
    rateLimit: { perCredential: 1000, perAddress: 1000 },
    securitySchemes: {},
    security: [],
  });
  registerConsoleRoutes(server, { webRoot: root });
  server.get('/api/v1/me', { config: { access: { public: true } } }, async () => {
    throw new WarrenError('UNAUTHORIZED', 'not signed in', 401);
  });
  server.post('/api/v1/login', { config: { access: { public: true } } }, async () => {
    throw new WarrenError('INVALID_CREDENTIALS', 'wrong name or password', 401);
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.server.address() as AddressInfo;
  return { app: server, base: `http://127.0.0.1:${port}` };
}

/** A GET with the path sent exactly as written (no URL normalisation, unlike fetch). */
function rawGet(
  url: string,
  path: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/`, { path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  webRoot = join(tempDir('warren-console-'), 'web');
  await viteBuild({
    configFile: join(import.meta.dirname, '..', '..', 'web', 'vite.config.ts'),
    build: { outDir: webRoot, emptyOutDir: true },
    logLevel: 'error',
  });
  ({ app, base } = await startServer(webRoot));
});
after(() => app?.close());

describe('console static files', () => {
  test('GET / is the console page with the security headers and no inline script or style', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    assert.doesNotMatch(html, /<style|\sstyle=/, 'no inline style');
    const script = /<script[^>]*src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const js = await fetch(`${base}${script}`, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(js.headers.get('content-security-policy'), CONSOLE_CSP);
    const plain = await js.text();
    const zipped = await fetch(`${base}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers.get('content-encoding'), 'gzip');
    assert.equal(await zipped.text(), plain, 'the gzipped asset decodes to the same script');
  });

  test('paths outside the assets folder are refused, however they are spelled', async () => {
    const attempts = [
      '/assets/../../package.json',
      '/assets/../index.html',
      '/assets/..%2F..%2Fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/%2E%2E%2F%2E%2E%2Fpackage.json',
      '/assets/.%2e/.%2e/package.json',
      '/assets/..\\..\\package.json',
      '/assets/%00index.html',
      '/assets//etc/passwd',
      '/assets/%2Fetc%2Fpasswd',
      '/assets/',
    ];
    for (const path of attempts) {
      const res = await rawGet(base, path);
      assert.notEqual(res.status, 200, `${path} answered 200`);
      assert.ok(res.status >= 400 && res.status < 500, `${path}: ${res.status}`);
      assert.doesNotMatch(res.body, /"name": "warren"|root:x:0|<div id="root">/, `${path} leaked a file`);
      assert.equal(JSON.parse(res.body).error.code, 'NOT_FOUND', `${path}: ${res.body}`);
    }
  });

  test('a symlink inside assets/ is not followed', async () => {
    symlinkSync(join(import.meta.dirname, '..', '..', 'package.json'), join(webRoot, 'assets', 'leak.json'));
    const res = await rawGet(base, '/assets/leak.json');
    assert.equal(res.status, 404);
    assert.doesNotMatch(res.body, /"name": "warren"/);
  });

  test('without a built console GET / says to run npm run build', async () => {
    const missing = await startServer(join(tempDir('warren-console-missing-'), 'web'));
    try {
      const res = await fetch(`${missing.base}/`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /npm run build/);
      assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
    } finally {
      await missing.app.close();
    }
  });
});

describe('console in Chromium on a phone (375x667)', { skip: requireChromium() }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  test('the sign-in page renders under the strict CSP, fits the screen, and shows errors in words', async () => {
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      const watch = watchPage(page);
      const violations: string[] = [];
      await page.exposeFunction('reportCspViolation', (v: string) => violations.push(v));
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          (window as unknown as { reportCspViolation(v: string): void }).reportCspViolation(
            `${e.violatedDirective} ${e.blockedURI}`,
          );
        });
      });
      const res = await page.goto(`${base}/#/login`);
      assert.equal(res?.status(), 200);
      await page.getByRole('heading', { name: 'Sign in to Warren' }).waitFor();
      const name = page.getByLabel('Name');
      const password = page.getByLabel('Password');
      assert.ok(await name.isVisible());
      assert.ok(await password.isVisible());
      assert.ok(await page.getByRole('button', { name: 'Sign in' }).isEnabled());
      assert.equal(await hasHorizontalScroll(page), false, 'no horizontal scroll at 375 px');

      // A wrong password: the error in words, with the server's code small.
      await name.fill('alice');
      await password.fill('not-her-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      const text = (await alert.textContent()) ?? '';
      assert.match(text, /The name or password is wrong\./);
      assert.match(text, /INVALID_CREDENTIALS/);
      assert.ok(
        await page.getByRole('button', { name: 'Sign in' }).isEnabled(),
        'the button is usable again',
      );
      assert.equal(await hasHorizontalScroll(page), false, 'no horizontal scroll with the error shown');

      // A page behind the sign-in gate shows the form in its place.
      await page.goto(`${base}/#/open/notes`);
      await page.getByText('Sign in to continue to the app “notes”').waitFor();

      assert.deepEqual(violations, [], 'no CSP violation');
      assert.deepEqual(watch.cspViolations(), []);
      // The only expected noise: Chromium logs the 401s the signed-out API calls answer.
      const unexpected = watch.problems.filter(
        (p) => !/Failed to load resource: the server responded with a status of 401/.test(p),
      );
      assert.deepEqual(unexpected, []);
    } finally {
      await context.close();
    }
  });
});
