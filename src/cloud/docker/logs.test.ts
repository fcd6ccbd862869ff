import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demuxLines, type LogLine } from './logs.js';

function frame(stream: 1 | 2, text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text) : text;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

async function lines(chunks: Buffer[], max?: number): Promise<LogLine[]> {
  async function* source() {
    yield* chunks;
  }
  const out: LogLine[] = [];
  for await (const line of demuxLines(source(), max)) out.push(line);
  return out;
}

test('frames of stdout and stderr become lines of each', async () => {
  const data = Buffer.concat([frame(1, 'one\ntw'), frame(2, 'err\n'), frame(1, 'o\r\nthree')]);
  assert.deepEqual(await lines([data]), [
    { stream: 'stdout', text: 'one' },
    { stream: 'stderr', text: 'err' },
    { stream: 'stdout', text: 'two' },
    { stream: 'stdout', text: 'three' },
  ]);
});

test('headers and payloads split across chunks at every byte', async () => {
  const data = Buffer.concat([frame(1, 'héllo\n'), frame(2, 'wörld\n')]);
  const split = [...data].map((byte) => Buffer.from([byte]));
  assert.deepEqual(await lines(split), [
    { stream: 'stdout', text: 'héllo' },
    { stream: 'stderr', text: 'wörld' },
  ]);
});

test('a line longer than the bound is cut into pieces', async () => {
  const out = await lines([frame(1, `${'a'.repeat(25)}\nb\n`)], 10);
  assert.deepEqual(
    out.map((l) => l.text),
    ['aaaaaaaaaa', 'aaaaaaaaaa', 'aaaaa', 'b'],
  );
});

test('nothing in, nothing out', async () => {
  assert.deepEqual(await lines([]), []);
});
