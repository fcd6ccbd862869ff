import assert from 'node:assert/strict';
import { join, sep } from 'node:path';
import { describe, test } from 'node:test';
import { assetContentType, assetPath } from '../../src/cloud/routes/console.js';
import { friendlyMessage, parseErrorBody, sentence } from '../../web/src/messages.js';
import { hashOf, isPublic, parseHash, type Route } from '../../web/src/routes.js';

/* The console's pure parts: hash routes, API errors in words, which asset names may be served. */

describe('console hash routes', () => {
  test('every page round-trips through its hash', () => {
    const routes: Route[] = [
      { page: 'login' },
      { page: 'join', code: 'Abc_123-xyz' },
      { page: 'apps' },
      { page: 'logs', app: 'notes' },
      { page: 'access', app: 'notes' },
      { page: 'store' },
      { page: 'users' },
      { page: 'certificates' },
      { page: 'settings' },
      { page: 'open', app: 'my-wiki' },
    ];
    for (const route of routes) assert.deepEqual(parseHash(hashOf(route)), route, hashOf(route));
  });

  test('an empty hash is the apps page; junk is "not found", never a page with a bad id', () => {
    assert.deepEqual(parseHash(''), { page: 'apps' });
    assert.deepEqual(parseHash('#/'), { page: 'apps' });
    assert.equal(parseHash('#/open/..%2F..%2Fapi').page, 'not-found');
    assert.equal(parseHash('#/open/Notes').page, 'not-found');
    assert.equal(parseHash('#/apps/notes/shell').page, 'not-found');
    assert.equal(parseHash('#/join/%E0%A4%A').page, 'not-found');
    assert.equal(parseHash('#/join/a b').page, 'not-found');
    assert.equal(parseHash('#/users/extra').page, 'not-found');
  });

  test('only sign-in and join are public', () => {
    assert.equal(isPublic({ page: 'login' }), true);
    assert.equal(isPublic({ page: 'join', code: 'x' }), true);
    assert.equal(isPublic({ page: 'open', app: 'notes' }), false);
    assert.equal(isPublic({ page: 'apps' }), false);
  });
});

describe('API errors in words', () => {
  test('known codes get a sentence a person understands', () => {
    assert.equal(friendlyMessage('INVALID_CREDENTIALS', 401, 'x'), 'The name or password is wrong.');
    assert.match(friendlyMessage('LAST_ADMIN', 409, 'x'), /without an admin/);
    assert.match(friendlyMessage('CSRF_REFUSED', 403, 'x'), /Reload the page/);
    assert.match(friendlyMessage('RATE_LIMITED', 429, 'x'), /Wait a moment/);
    assert.match(friendlyMessage('COMPOSE_FORBIDDEN_KEY', 422, 'x'), /refused by the checks/);
  });

  test('unknown codes fall back on the status, then on the server message as a sentence', () => {
    assert.match(friendlyMessage('SOMETHING_NEW', 403, 'x'), /permission/);
    assert.match(friendlyMessage('SOMETHING_NEW', 0, 'fetch failed'), /could not be reached/);
    assert.match(friendlyMessage('SOMETHING_NEW', 500, 'boom'), /went wrong on the server/);
    assert.equal(friendlyMessage('SOMETHING_NEW', 418, 'the teapot is busy'), 'The teapot is busy.');
    assert.equal(sentence('  '), 'Something went wrong.');
    assert.equal(sentence('done!'), 'Done!');
  });

  test('the error body is read only when it has the contract shape', () => {
    assert.deepEqual(parseErrorBody('{"error":{"code":"A","message":"b"}}'), { code: 'A', message: 'b' });
    assert.equal(parseErrorBody('{"error":{"code":1,"message":"b"}}'), undefined);
    assert.equal(parseErrorBody('<html>bad gateway</html>'), undefined);
    assert.equal(parseErrorBody('null'), undefined);
  });
});

describe('console asset names', () => {
  const dir = join(sep, 'srv', 'web', 'assets');
  test('hashed file names inside assets/ are served', () => {
    assert.equal(assetPath(dir, 'index-CvGgQnPa.js'), join(dir, 'index-CvGgQnPa.js'));
    assert.equal(assetPath(dir, 'logo_1.svg'), join(dir, 'logo_1.svg'));
  });

  test('anything that could leave assets/ is refused before the file system is touched', () => {
    for (const name of [
      '',
      '..',
      '../index.html',
      '../../package.json',
      'a/../../b',
      'sub/file.js',
      '/etc/passwd',
      '..\\..\\package.json',
      '.hidden',
      'a..b/../c',
      'x\u0000.js',
      'é.js',
      `${'a'.repeat(201)}.js`,
    ]) {
      assert.equal(assetPath(dir, name), undefined, JSON.stringify(name));
    }
  });

  test('content types', () => {
    assert.match(assetContentType('a.js'), /^text\/javascript/);
    assert.match(assetContentType('a.CSS'), /^text\/css/);
    assert.equal(assetContentType('a.svg'), 'image/svg+xml');
    assert.equal(assetContentType('a.bin'), 'application/octet-stream');
  });
});
