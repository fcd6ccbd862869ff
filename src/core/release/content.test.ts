import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { archiveKind, checkIcon } from './content.js';
import { ReleaseError } from './types.js';

test('finds archives by their magic, whatever the name', () => {
  assert.equal(archiveKind(Buffer.from('PK\x03\x04rest', 'latin1')), 'zip');
  assert.equal(archiveKind(gzipSync('x')), 'gzip');
  const tar = Buffer.alloc(512);
  tar.write('ustar', 257, 'latin1');
  assert.equal(archiveKind(tar), 'tar');
  assert.equal(archiveKind(Buffer.from('Rar!\x1a\x07\x00', 'latin1')), 'rar');
  assert.equal(archiveKind(Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0])), '7z');
  assert.equal(archiveKind(Buffer.from('services:\n')), undefined);
});

test('accepts a plain SVG and refuses one that could run or fetch something', () => {
  const svg = (body: string) => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg">${body}</svg>`);
  assert.doesNotThrow(() => checkIcon('icon.svg', svg('<use href="#a"/><rect fill="url(#g)"/>')));
  for (const body of [
    '<script>alert(1)</script>',
    '<rect onload="x()"/>',
    '<image href="https://example.com/x.png"/>',
    '<use xlink:href="other.svg#a"/>',
    '<rect style="fill:url(https://example.com/x)"/>',
    '<foreignObject><div/></foreignObject>',
    '<a href="javascript:alert(1)"/>',
  ]) {
    assert.throws(() => checkIcon('icon.svg', svg(body)), ReleaseError, body);
  }
  assert.throws(
    () => checkIcon('icon.svg', Buffer.from('<!DOCTYPE svg [<!ENTITY x "y">]><svg/>')),
    ReleaseError,
  );
  assert.throws(() => checkIcon('icon.svg', Buffer.from('<html/>')), ReleaseError);
  assert.throws(() => checkIcon('icon.png', Buffer.from('GIF89a')), ReleaseError);
});
