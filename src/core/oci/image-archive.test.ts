import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configEntryName, layerEntryName, manifestJson, tarHeader, tarStream } from './image-archive.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function* inChunks(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('docker load archive', () => {
  it('is a tar that GNU tar reads back byte for byte, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-archive-'));
    try {
      const layer = randomBytes(70_001);
      const config = Buffer.from('{"rootfs":{}}');
      const digest = `sha256:${'ab'.repeat(32)}`;
      const manifest = manifestJson({
        config: configEntryName(digest),
        repoTags: ['127.0.0.1:5000/app:1'],
        layers: [layerEntryName(digest)],
      });
      const tar = await collect(
        tarStream([
          { name: 'manifest.json', size: manifest.length, body: manifest },
          { name: configEntryName(digest), size: config.length, body: config },
          { name: layerEntryName(digest), size: layer.length, body: inChunks(layer, 8191) },
        ]),
      );
      assert.equal(tar.length % 512, 0);
      writeFileSync(join(dir, 'a.tar'), tar);
      const listing = execFileSync('tar', ['-tf', join(dir, 'a.tar')], { encoding: 'utf8' })
        .trim()
        .split('\n');
      assert.deepEqual(listing, [
        'manifest.json',
        `${'ab'.repeat(32)}.json`,
        `blobs/sha256/${'ab'.repeat(32)}`,
      ]);
      execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
      assert.deepEqual(readFileSync(join(dir, 'blobs', 'sha256', 'ab'.repeat(32))), layer);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), [
        {
          Config: `${'ab'.repeat(32)}.json`,
          RepoTags: ['127.0.0.1:5000/app:1'],
          Layers: [`blobs/sha256/${'ab'.repeat(32)}`],
        },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails when a body is not the size its descriptor named', async () => {
    await assert.rejects(
      collect(tarStream([{ name: 'x', size: 10, body: inChunks(Buffer.alloc(9), 4) }])),
      /x: fewer bytes than the 10/,
    );
    await assert.rejects(
      collect(tarStream([{ name: 'x', size: 10, body: inChunks(Buffer.alloc(11), 4) }])),
      /x: more bytes than the 10/,
    );
  });

  it('writes sizes over 8 GiB in base-256, with a valid checksum', () => {
    const size = 9 * 1024 ** 3 + 7;
    const header = tarHeader('big', size);
    assert.equal(header[124], 0x80);
    let value = 0n;
    for (let i = 125; i < 136; i++) value = (value << 8n) | BigInt(header[i]!);
    assert.equal(value, BigInt(size));
    const stored = Number.parseInt(header.subarray(148, 154).toString('latin1'), 8);
    const copy = Buffer.from(header);
    copy.fill(0x20, 148, 156);
    assert.equal(
      stored,
      copy.reduce((a, b) => a + b, 0),
    );
    assert.throws(() => tarHeader('n'.repeat(101), 1), /over 100 bytes/);
  });
});
