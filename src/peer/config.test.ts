import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config.js';
import { PeerConfigSchema } from './config.js';

describe('peer configuration', () => {
  it('accepts the annotated example', () => {
    const file = fileURLToPath(new URL('./config.example.yaml', import.meta.url));
    const config = loadConfig(PeerConfigSchema, { file, env: {} });
    assert.equal(config.upload.concurrency, 64);
    assert.equal(config.gc.highWatermark, 0.8);
  });

  it('fills defaults, and flags beat the environment', () => {
    const config = loadConfig(PeerConfigSchema, {
      env: { WARREN_LISTEN: '127.0.0.1:1', WARREN_UPLOAD__CONCURRENCY: '8' },
      flags: { listen: '127.0.0.1:2' },
    });
    assert.equal(config.listen, '127.0.0.1:2');
    assert.equal(config.upload.concurrency, 8);
    assert.equal(config.download.memoryBudget, '32MiB');
  });

  it('names an unknown key', () => {
    assert.throws(
      () => loadConfig(PeerConfigSchema, { env: {}, flags: { 'upload.speed': 1 } }),
      /upload\.speed/,
    );
  });
});
