import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { ManagerConfigSchema, resolveManagerSettings } from './config.js';

const example = join(import.meta.dirname, 'config.example.yaml');

describe('manager config', () => {
  it('config.example.yaml holds exactly the defaults', () => {
    const fromFile = loadConfig(ManagerConfigSchema, { file: example, env: {} });
    assert.deepEqual(fromFile, loadConfig(ManagerConfigSchema, { env: {} }));
  });

  it('takes env over the file and flags over env', () => {
    const config = loadConfig(ManagerConfigSchema, {
      file: example,
      env: { WARREN_RATE_LIMIT__PER_TOKEN: '7', WARREN_DATABASE__URL: 'postgres://a@b/c' },
      flags: { 'database.url': 'postgres://x@y/z' },
    });
    const settings = resolveManagerSettings(config);
    assert.equal(settings.rateLimit.perToken, 7);
    assert.equal(settings.database.url, 'postgres://x@y/z');
    assert.equal(settings.certificateLifetimeMs, 7 * 86_400_000);
  });

  it('names the key of a bad value, and of an unknown one', () => {
    assert.throws(
      () => loadConfig(ManagerConfigSchema, { env: {}, flags: { 'database.sslMode': 'maybe' } }),
      /database\.sslMode/,
    );
    assert.throws(
      () => loadConfig(ManagerConfigSchema, { env: {}, flags: { 'auth.nope': 1 } }),
      /auth\.nope/,
    );
    const config = loadConfig(ManagerConfigSchema, { env: {}, flags: { 'jobs.timeout': 'soon' } });
    assert.throws(() => resolveManagerSettings(config), /jobs\.timeout/);
  });
});
