import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KeptData } from './kept-data.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-kept-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kept data record', () => {
  it('remembers apps removed with their data across restarts, and forgets them', async () => {
    const kept = new KeptData(dir);
    await kept.open();
    assert.equal(kept.has('notes'), false);
    await kept.add('notes', '1.2.0');
    await kept.add('wiki', '0.1.0');
    const again = new KeptData(dir);
    await again.open();
    assert.deepEqual(again.list().sort(), ['notes', 'wiki']);
    await again.delete('notes');
    const third = new KeptData(dir);
    await third.open();
    assert.deepEqual(third.list(), ['wiki']);
    assert.equal(JSON.parse(readFileSync(join(dir, 'apps', 'kept-data.json'), 'utf8')).wiki.version, '0.1.0');
  });

  it('refuses to start on a damaged record rather than forget what to keep', async () => {
    const other = mkdtempSync(join(dir, 'bad-'));
    const kept = new KeptData(other);
    await kept.open();
    writeFileSync(join(other, 'apps', 'kept-data.json'), '{ not json');
    await assert.rejects(new KeptData(other).open(), { code: 'KEPT_DATA_CORRUPT' });
  });
});
