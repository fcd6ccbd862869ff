import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../core/config.js';
import { resolveSchedulerSettings, SchedulerConfigSchema } from './config.js';

const example = join(import.meta.dirname, 'config.example.yaml');

describe('scheduler config', () => {
  it('config.example.yaml holds exactly the defaults', () => {
    const fromFile = loadConfig(SchedulerConfigSchema, { file: example, env: {} });
    assert.deepEqual(fromFile, loadConfig(SchedulerConfigSchema, { env: {} }));
  });

  it('takes env over the file and flags over env', () => {
    const config = loadConfig(SchedulerConfigSchema, {
      file: example,
      env: { WARREN_RATE_LIMIT__BURST: '7', WARREN_LISTEN: '127.0.0.1:9000' },
      flags: { listen: '127.0.0.1:9001' },
    });
    const settings = resolveSchedulerSettings(config);
    assert.equal(settings.burst, 7);
    assert.deepEqual(settings.listen, { host: '127.0.0.1', port: 9001 });
    assert.equal(settings.seedTimeoutMs, 10_000);
  });

  it('names the key of a bad value', () => {
    assert.throws(
      () => loadConfig(SchedulerConfigSchema, { env: {}, flags: { 'limits.maxTasks': 0 } }),
      /limits\.maxTasks/,
    );
    const config = loadConfig(SchedulerConfigSchema, { env: {}, flags: { 'timeouts.seedTimeout': 'soon' } });
    assert.throws(() => resolveSchedulerSettings(config), /timeouts\.seedTimeout/);
  });
});
