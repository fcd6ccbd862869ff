import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { appOrigin, CloudConfigSchema, resolveCloudSettings } from './config.js';

const example = join(import.meta.dirname, 'config.example.yaml');

describe('cloud config', () => {
  it('config.example.yaml holds exactly the defaults', () => {
    const fromFile = loadConfig(CloudConfigSchema, { file: example, env: {} });
    assert.deepEqual(fromFile, loadConfig(CloudConfigSchema, { env: {} }));
  });

  it('resolves the console origin, app origins, sizes and durations', () => {
    const s = resolveCloudSettings(loadConfig(CloudConfigSchema, { env: {} }));
    assert.equal(s.consoleOrigin, 'https://warren.localhost');
    assert.equal(appOrigin(s, 'notes'), 'https://notes.warren.localhost');
    assert.equal(s.caps.memoryBytes, 1024 ** 3);
    assert.equal(s.sessionIdleMs, 12 * 3_600_000);
    const moved = resolveCloudSettings(
      loadConfig(CloudConfigSchema, { env: {}, flags: { domain: 'Cloud.Example.org', publicPort: 8443 } }),
    );
    assert.equal(moved.consoleOrigin, 'https://cloud.example.org:8443');
    assert.equal(appOrigin(moved, 'notes'), 'https://notes.cloud.example.org:8443');
    assert.equal(
      resolveCloudSettings(loadConfig(CloudConfigSchema, { env: {}, flags: { httpListen: '' } })).httpListen,
      null,
    );
  });

  it('names a bad key', () => {
    const bad = loadConfig(CloudConfigSchema, { env: {}, flags: { domain: 'not a domain' } });
    assert.throws(() => resolveCloudSettings(bad), /'domain'/);
    const peer = { 'peer.socket': '/run/warren/peer.sock', 'peer.mirror': '127.0.0.1:5000' };
    const storeWithoutKey = loadConfig(CloudConfigSchema, {
      env: {},
      flags: { 'store.url': 'https://store:8444', ...peer },
    });
    assert.throws(() => resolveCloudSettings(storeWithoutKey), /'store\.keyFile'/);
    const storeWithoutPeer = loadConfig(CloudConfigSchema, {
      env: {},
      flags: { 'store.url': 'https://store:8444', 'store.keyFile': 'k.pub', 'peer.socket': '/run/p.sock' },
    });
    assert.throws(() => resolveCloudSettings(storeWithoutPeer), /'peer\.mirror'/);
    const plainStore = loadConfig(CloudConfigSchema, {
      env: {},
      flags: { 'store.url': 'http://store:8444', 'store.keyFile': 'k.pub' },
    });
    assert.throws(() => resolveCloudSettings(plainStore), /'store\.url'/);
    assert.throws(
      () => loadConfig(CloudConfigSchema, { env: {}, flags: { 'sandbox.cpus': 0 } }),
      /sandbox\.cpus/,
    );
    assert.throws(
      () => loadConfig(CloudConfigSchema, { env: {}, flags: { 'gateway.nope': 1 } }),
      /gateway\.nope/,
    );
  });
});
