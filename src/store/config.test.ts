import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { resolveStoreSettings, StoreConfigSchema } from './config.js';

const example = join(import.meta.dirname, 'config.example.yaml');

describe('store config', () => {
  it('config.example.yaml holds exactly the defaults', () => {
    const fromFile = loadConfig(StoreConfigSchema, { file: example, env: {} });
    assert.deepEqual(fromFile, loadConfig(StoreConfigSchema, { env: {} }));
  });

  it('resolves sizes and durations; defaults are invite-only, 10 MiB releases, 1 GiB quota, 7-day index', () => {
    const s = resolveStoreSettings(loadConfig(StoreConfigSchema, { env: {} }));
    assert.equal(s.registration, 'invite');
    assert.equal(s.releaseSizeBytes, 10 * 1024 * 1024);
    assert.equal(s.quotaBytes, 1024 ** 3);
    assert.equal(s.indexExpiryMs, 7 * 86_400_000);
    assert.deepEqual(s.listen, { host: '0.0.0.0', port: 8444 });
    const env = loadConfig(StoreConfigSchema, { env: { WARREN_LIMITS__QUOTA: '2MiB' } });
    assert.equal(resolveStoreSettings(env).quotaBytes, 2 * 1024 * 1024);
  });

  it('refuses a release size over the format limit, and names bad keys', () => {
    const big = loadConfig(StoreConfigSchema, { env: {}, flags: { 'limits.releaseSize': '64MiB' } });
    assert.throws(() => resolveStoreSettings(big), /limits\.releaseSize/);
    assert.throws(
      () => loadConfig(StoreConfigSchema, { env: {}, flags: { registration: 'maybe' } }),
      /registration/,
    );
    assert.throws(
      () => loadConfig(StoreConfigSchema, { env: {}, flags: { 'limits.nope': 1 } }),
      /limits\.nope/,
    );
  });
});
