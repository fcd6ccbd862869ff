import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { WarrenError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import type { PeerConfig } from '../config.js';
import { createProxy } from './create-proxy.js';
import { ProxyServer } from './proxy-server.js';
import { AllowList } from './rules.js';

/** Sends raw bytes to the proxy and collects its whole answer until it closes the connection. */
async function raw(port: number, request: string, options: { keepOpen?: boolean } = {}) {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(request);
  if (!options.keepOpen) socket.end();
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const started = Date.now();
  await once(socket, 'close');
  return { text: Buffer.concat(chunks).toString(), ms: Date.now() - started };
}

const noP2P = {
  startDownload: () => Promise.reject(new WarrenError('UNUSED', 'no P2P in this test', 500)),
  storedTask: () => undefined,
};

describe('proxy server limits', () => {
  let proxy: ProxyServer;

  before(async () => {
    proxy = new ProxyServer(
      { ...noP2P, log: createLogger({ level: 'silent' }), registry: new Registry() },
      {
        host: '127.0.0.1',
        port: 0,
        rules: [],
        allow: new AllowList(['127.0.0.0/8']),
        connectPorts: new Set([443]),
        maxConnections: 8,
        idleTimeout: 60_000,
        headersTimeout: 500,
      },
    );
    await proxy.start();
  });

  after(() => proxy.stop());

  it('closes a client that is too slow to send its headers with 408', async () => {
    const { text, ms } = await raw(proxy.port, 'GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: a\r\n', {
      keepOpen: true,
    });
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(ms < 5_000, `closed after ${ms} ms`);
  });

  it('answers 431 to headers over 16 KiB', async () => {
    const { text } = await raw(
      proxy.port,
      `GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    assert.match(text, /^HTTP\/1\.1 431 /);
  });

  it('answers 400 to a request that is not in absolute form: this is a proxy, not a server', async () => {
    const { text } = await raw(
      proxy.port,
      'GET /etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.match(text, /NOT_A_PROXY_REQUEST/);
  });

  it('refuses CONNECT to a port outside proxy.connectPorts, and malformed CONNECT targets', async () => {
    const port = await raw(proxy.port, 'CONNECT 127.0.0.1:25 HTTP/1.1\r\nHost: 127.0.0.1:25\r\n\r\n');
    assert.match(port.text, /^HTTP\/1\.1 403 /);
    assert.match(port.text, /connectPorts/);
    const bad = await raw(proxy.port, 'CONNECT nohost HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(bad.text, /^HTTP\/1\.1 400 /);
  });
});

describe('proxy configuration', () => {
  const base: PeerConfig['proxy'] = {
    listen: '127.0.0.1:0',
    allow: ['127.0.0.0/8'],
    rules: [],
    intercept: { hosts: [], caCertFile: '', caKeyFile: '' },
    connectPorts: [443],
    maxConnections: 8,
    idleTimeout: '1m',
  };
  const components = { ...noP2P, log: createLogger({ level: 'silent' }), registry: new Registry() };

  it('stops at start on a bad rule, a bad CIDR, or interception without a CA', async () => {
    await assert.rejects(
      createProxy({ ...base, rules: [{ regex: '(unclosed', useP2P: true }] }, components, undefined),
      /proxy\.rules\[0\]\.regex '\(unclosed'/,
    );
    await assert.rejects(
      createProxy({ ...base, allow: ['everyone'] }, components, undefined),
      /proxy\.allow: 'everyone'/,
    );
    await assert.rejects(
      createProxy(
        { ...base, intercept: { hosts: ['example.com'], caCertFile: '', caKeyFile: '' } },
        components,
        undefined,
      ),
      /caCertFile and caKeyFile/,
    );
  });
});
