import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Upstreams } from './upstreams.js';

const entry = (over: Record<string, string>) => ({
  host: 'r.example',
  url: '',
  alias: '',
  username: '',
  passwordFile: '',
  ...over,
});

test('defaults: https://<host>, Docker Hub at registry-1.docker.io', () => {
  const u = new Upstreams([entry({}), entry({ host: 'docker.io' })]);
  assert.equal(u.host('r.example')!.url, 'https://r.example');
  assert.equal(u.host('docker.io')!.url, 'https://registry-1.docker.io');
  assert.equal(u.host('index.docker.io')!.host, 'docker.io');
});

test('accounts are read from the password file and found by API host', () => {
  const files: string[] = [];
  const u = new Upstreams(
    [entry({ url: 'http://127.0.0.1:5001/', username: 'puller', passwordFile: '/secret' })],
    (f) => {
      files.push(f);
      return 'pa55';
    },
  );
  assert.deepEqual(files, ['/secret']);
  assert.deepEqual(u.credentials('127.0.0.1:5001'), { username: 'puller', password: 'pa55' });
  assert.equal(u.credentials('r.example'), undefined);
  assert.ok(u.isRegistry(new URL('http://127.0.0.1:5001/v2/a/blobs/x')));
  assert.ok(!u.isRegistry(new URL('http://127.0.0.1:5002/v2/a/blobs/x')));
});

test('bad entries are configuration errors that name the key', () => {
  const bad: [Record<string, string>[], RegExp][] = [
    [[{ host: 'not a host' }], /host/],
    [[{}, {}], /twice/],
    [[{ url: 'ftp://x' }], /http/],
    [[{ url: 'https://user:pw@x' }], /passwordFile/],
    [[{ passwordFile: '/x' }], /no username/],
    [[{ alias: 'Bad Alias' }], /alias/],
  ];
  for (const [entries, message] of bad) {
    assert.throws(() => new Upstreams(entries.map(entry), () => 'x'), message);
  }
});

test('an unreadable or empty password file is an error without its content', () => {
  assert.throws(
    () => new Upstreams([entry({ username: 'u', passwordFile: '/nonexistent/pw' })]),
    /cannot read passwordFile/,
  );
});
