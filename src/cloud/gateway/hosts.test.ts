import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  classifyHost,
  consoleOpenUrl,
  httpsUrl,
  normalizeDomain,
  pathOf,
  queryParam,
  safeLocalPath,
} from './hosts.js';
import { escapeHtml, renderPage } from './pages.js';

const domain = 'cloud.test';

test('classifyHost: the console, an app, and everything else', () => {
  assert.deepEqual(classifyHost('cloud.test', domain), { kind: 'console', port: undefined });
  assert.deepEqual(classifyHost('Cloud.Test.:8443', domain), { kind: 'console', port: '8443' });
  assert.deepEqual(classifyHost('notes.cloud.test', domain), {
    kind: 'app',
    appId: 'notes',
    port: undefined,
  });
  assert.deepEqual(classifyHost('NOTES.cloud.test:443', domain), {
    kind: 'app',
    appId: 'notes',
    port: '443',
  });
  assert.deepEqual(classifyHost('a.b.cloud.test', domain), { kind: 'no-app' });
  assert.deepEqual(classifyHost('1notes.cloud.test', domain), { kind: 'no-app' });
  assert.deepEqual(classifyHost('x.cloud.test', domain), { kind: 'no-app' }, 'app ids have 2+ characters');
  for (const foreign of [
    'evilcloud.test',
    'cloud.test.evil',
    'example.com',
    '.cloud.test',
    '127.0.0.1',
    '[::1]:443',
    'cloud.test:x',
    undefined,
    '',
  ]) {
    assert.deepEqual(classifyHost(foreign, domain), { kind: 'foreign' }, String(foreign));
  }
  assert.equal(normalizeDomain(' Cloud.Test. '), 'cloud.test');
});

test('redirect targets are built from checked parts only', () => {
  assert.equal(consoleOpenUrl(domain, undefined, 'notes'), 'https://cloud.test/#/open/notes');
  assert.equal(consoleOpenUrl(domain, '8443', 'notes'), 'https://cloud.test:8443/#/open/notes');
  assert.equal(httpsUrl('notes.cloud.test', 443, '/a?b=c'), 'https://notes.cloud.test/a?b=c');
  assert.equal(httpsUrl('cloud.test', 8443, 'http://evil/'), 'https://cloud.test:8443/');
});

test('safeLocalPath never yields another origin', () => {
  assert.equal(safeLocalPath('/app/'), '/app/');
  for (const bad of [
    '//evil.example/',
    '/\\evil.example',
    'https://evil.example/',
    'evil',
    '/a\r\nSet-Cookie: x=1',
    '',
    undefined,
  ]) {
    assert.equal(safeLocalPath(bad), '/', String(bad));
  }
});

test('pathOf and queryParam', () => {
  assert.equal(pathOf('/.warren/handoff?secret=abc'), '/.warren/handoff');
  assert.equal(queryParam('/.warren/handoff?x=1&secret=a%2Bb', 'secret'), 'a+b');
  assert.equal(queryParam('/.warren/handoff', 'secret'), undefined);
});

test('pages escape everything they show', () => {
  assert.equal(
    escapeHtml(`<script>"x"&'y'</script>`),
    '&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;',
  );
  const page = renderPage('App <b>', 'stopped: <img src=x onerror=alert(1)>');
  assert.ok(!page.includes('<img'));
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'));
});
