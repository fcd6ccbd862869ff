import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AllowList,
  byteRange,
  compileRules,
  controlValues,
  endToEndHeaders,
  matchesP2P,
  originHeaders,
  parseAuthority,
} from './rules.js';

describe('proxy rules', () => {
  it('the first matching rule decides; no match means pass-through', () => {
    const rules = compileRules([
      { regex: '/private/', useP2P: false },
      { regex: '\\.bin$', useP2P: true },
    ]);
    assert.equal(matchesP2P(rules, 'http://a/files/x.bin'), true);
    assert.equal(matchesP2P(rules, 'http://a/private/x.bin'), false);
    assert.equal(matchesP2P(rules, 'http://a/files/x.txt'), false);
    assert.equal(matchesP2P([], 'http://a/files/x.bin'), false);
  });

  it('a bad regex is a configuration error naming the rule', () => {
    assert.throws(
      () =>
        compileRules([
          { regex: 'ok', useP2P: true },
          { regex: '([a-', useP2P: true },
        ]),
      (err: Error & { code?: string }) =>
        err.code === 'CONFIG_INVALID' &&
        err.message.includes('proxy.rules[1].regex') &&
        err.message.includes('([a-'),
    );
  });
});

describe('proxy control headers', () => {
  it('reads tag, application, digest, filter and use-p2p', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const values = controlValues({
      'x-warren-tag': 'v1',
      'x-warren-application': 'app',
      'x-warren-digest': digest,
      'x-warren-filter': 'token, sig ,',
      'x-warren-use-p2p': 'FALSE',
    });
    assert.deepEqual(values, {
      tag: 'v1',
      application: 'app',
      digest,
      filterQuery: ['token', 'sig'],
      useP2P: false,
    });
    assert.equal(controlValues({}).useP2P, true);
  });

  it('refuses malformed values instead of ignoring them', () => {
    assert.throws(() => controlValues({ 'x-warren-use-p2p': 'maybe' }), /x-warren-use-p2p/);
    assert.throws(() => controlValues({ 'x-warren-digest': 'md5:abc' }), /x-warren-digest/);
    assert.throws(() => controlValues({ 'x-warren-tag': ['a', 'b'] }), /more than once/);
  });
});

describe('hop-by-hop headers (RFC 9110 §7.6.1)', () => {
  const raw = [
    'Host',
    'example',
    'Connection',
    'keep-alive, X-Secret-Hop',
    'Proxy-Connection',
    'Keep-Alive',
    'X-Secret-Hop',
    'drop me',
    'Proxy-Authorization',
    'Basic abc',
    'TE',
    'trailers',
    'X-Warren-Tag',
    'v1',
    'Accept',
    'a/b',
    'X-Custom',
    'one',
    'X-Custom',
    'two',
  ];

  it('drops hop-by-hop headers, those Connection lists, and control headers, keeping case and order', () => {
    assert.deepEqual(endToEndHeaders(raw, { control: true }), [
      ['Host', 'example'],
      ['Accept', 'a/b'],
      ['X-Custom', 'one'],
      ['X-Custom', 'two'],
    ]);
    assert.ok(endToEndHeaders(raw, { control: false }).some(([name]) => name === 'X-Warren-Tag'));
  });

  it('origin headers for a P2P download leave out Host, Range, conditionals and Accept-Encoding', () => {
    const headers = originHeaders([
      ...raw,
      'Range',
      'bytes=0-1',
      'If-None-Match',
      '"x"',
      'Accept-Encoding',
      'gzip',
      'Authorization',
      'Bearer t',
    ]);
    assert.deepEqual(headers, { Accept: 'a/b', 'X-Custom': 'one, two', Authorization: 'Bearer t' });
  });
});

describe('proxy allow list', () => {
  it('allows addresses inside the CIDRs, IPv4-mapped ones too, and nothing else', () => {
    const allow = new AllowList(['127.0.0.0/8', '10.1.0.0/16', '::1/128']);
    assert.equal(allow.allows('127.0.0.1'), true);
    assert.equal(allow.allows('::ffff:127.0.0.1'), true);
    assert.equal(allow.allows('10.1.2.3'), true);
    assert.equal(allow.allows('::1'), true);
    assert.equal(allow.allows('10.2.0.1'), false);
    assert.equal(allow.allows('192.168.1.1'), false);
    assert.equal(allow.allows(undefined), false);
    assert.equal(new AllowList([]).allows('127.0.0.1'), false);
  });

  it('a malformed CIDR is a configuration error naming it', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'example.com/8', '::1/129', '1.2.3.4/8/1']) {
      assert.throws(
        () => new AllowList([bad]),
        (err: Error) => err.message.includes(`'${bad}'`),
      );
    }
  });
});

describe('CONNECT authority and byte ranges', () => {
  it('parses host:port and [v6]:port, refusing the rest', () => {
    assert.deepEqual(parseAuthority('Example.com:443'), { host: 'example.com', port: 443 });
    assert.deepEqual(parseAuthority('[::1]:8443'), { host: '::1', port: 8443 });
    for (const bad of ['example.com', 'a:0', 'a:70000', 'a b:1', 'http://a:1']) {
      assert.equal(parseAuthority(bad), undefined, bad);
    }
  });

  it('serves single ranges; other forms get the whole content', () => {
    assert.deepEqual(byteRange({ range: 'bytes=5-9' }), { start: 5, end: 9 });
    assert.deepEqual(byteRange({ range: 'bytes=5-' }), { start: 5 });
    assert.equal(byteRange({ range: 'bytes=-5' }), undefined);
    assert.equal(byteRange({ range: 'bytes=0-1,4-5' }), undefined);
    assert.equal(byteRange({ range: 'bytes=9-5' }), undefined);
    assert.equal(byteRange({ range: 'bytes=0-1', 'if-range': '"etag"' }), undefined);
    assert.equal(byteRange({}), undefined);
  });
});
