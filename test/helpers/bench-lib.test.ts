import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { curlDownload } from '../../bench/lib/curl.js';
import { startNginx } from '../../bench/lib/nginx.js';
import { formatRatio, median, peakRss, percentile, summarize } from '../../bench/lib/stats.js';
import { makeRandomFile, sha256File } from './files.js';
import { requireCommand } from './skip.js';
import { makeTestCa } from './tls.js';
import { cleanupTempDirs, tempDir } from './tmp.js';

const skip = requireCommand('nginx') ?? requireCommand('curl');

describe('bench/lib', () => {
  after(() => cleanupTempDirs());

  test('nginx serves a folder over HTTPS and curl downloads it byte for byte', { skip }, async () => {
    const dir = tempDir('warren-bench-lib-');
    const file = await makeRandomFile(join(dir, 'f.bin'), 3 * 1024 * 1024 + 7);
    const ca = await makeTestCa(join(dir, 'pki'));
    const server = await ca.issue('peer', 'nginx');
    const nginx = await startNginx({
      root: dir,
      tls: { certFile: join(server.dir, 'tls.crt'), keyFile: join(server.dir, 'tls.key') },
    });
    try {
      assert.ok((peakRss(nginx.pid) ?? 0) > 0);
      const result = await curlDownload(nginx.url('/f.bin'), join(dir, 'out.bin'), {
        cacert: join(ca.caDir, 'ca.crt'),
      });
      assert.equal(result.httpCode, 200);
      assert.equal(result.bytes, file.size);
      assert.ok(result.seconds > 0 && result.bytesPerSec > 0);
      assert.equal(await sha256File(join(dir, 'out.bin')), file.sha256);
      await assert.rejects(
        curlDownload(nginx.url('/missing'), join(dir, 'x'), { cacert: join(ca.caDir, 'ca.crt') }),
      );
    } finally {
      await nginx.stop();
    }
    assert.equal(peakRss(nginx.pid), undefined);
  });

  test('nginx limit_rate slows a download to about the rate', { skip }, async () => {
    const dir = tempDir('warren-bench-lib-');
    await makeRandomFile(join(dir, 'f.bin'), 2 * 1024 * 1024);
    const nginx = await startNginx({ root: dir, limitRate: 4 * 1024 * 1024 });
    try {
      const result = await curlDownload(nginx.url('/f.bin'), join(dir, 'out.bin'));
      // 2 MiB at 4 MiB/s: about 0.5 s.
      assert.ok(result.seconds > 0.35 && result.seconds < 15, `took ${result.seconds} s`);
    } finally {
      await nginx.stop();
    }
  });

  test('statistics', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(median([])));
    assert.deepEqual(summarize([1, 2, 3]), { n: 3, min: 1, max: 3, mean: 2, p50: 2, p99: 3 });
    assert.equal(formatRatio(0.7345), '0.73×');
  });
});
