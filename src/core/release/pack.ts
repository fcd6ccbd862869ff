import { randomBytes } from 'node:crypto';
import { lstat, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import yazl from 'yazl';
import { APP_YML, COMPOSE_YML, ICON_NAMES, isReleaseEntryName, quoteName } from './paths.js';
import { DEFAULT_RELEASE_LIMITS, ReleaseError, type ReleaseLimits, type ValidatedRelease } from './types.js';
import { validateRelease } from './validate.js';

/**
 * `warren app pack DIR -o FILE.zip`: the release zip from a folder holding
 * exactly its files. The same input gives the same bytes (fixed order, DOS
 * timestamps of 1980-01-01, fixed modes), so a maintainer can rebuild and
 * compare. The zip is written to a temp file beside the output, validated,
 * and only then renamed into place: a refused pack leaves no file.
 */

/** Pack order: the manifest first, so a reader sees it first. */
const PACK_ORDER = [APP_YML, COMPOSE_YML, ...ICON_NAMES];
/** Local time on purpose: yazl writes DOS time (local), so this is 1980-01-01 00:00 in every zone. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

export async function packRelease(
  dir: string,
  outPath: string,
  limits?: Partial<ReleaseLimits>,
): Promise<ValidatedRelease> {
  const bounds = { ...DEFAULT_RELEASE_LIMITS, ...limits };
  const files = await readReleaseFolder(dir, bounds);
  const zip = new yazl.ZipFile();
  for (const [name, content] of files) {
    zip.addBuffer(content, name, {
      mtime: FIXED_MTIME,
      mode: 0o100644,
      compress: true,
      forceDosTimestamp: true,
    });
  }
  zip.end();

  const temp = join(dirname(outPath), `.${basename(outPath)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o644);
  try {
    for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) await handle.write(chunk);
    await handle.sync();
    await handle.close();
    const release = await validateRelease(temp, bounds);
    await rename(temp, outPath);
    return release;
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
}

/** The folder's files in pack order; anything else in it (files, folders, links) is refused. */
async function readReleaseFolder(dir: string, limits: ReleaseLimits): Promise<Array<[string, Buffer]>> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ReleaseError('PACK_UNREADABLE', dir, `cannot read the folder: ${err.code ?? err.message}`);
  });
  for (const name of names) {
    if (!isReleaseEntryName(name)) {
      throw new ReleaseError(
        'ZIP_UNEXPECTED_FILE',
        join(dir, name),
        `not part of a release (a release folder holds only ${PACK_ORDER.join(', ')}); move it out`,
      );
    }
  }
  const files: Array<[string, Buffer]> = [];
  for (const name of PACK_ORDER) {
    if (!names.includes(name)) continue;
    const path = join(dir, name);
    const info = await lstat(path);
    if (!info.isFile()) {
      throw new ReleaseError('ZIP_NOT_REGULAR_FILE', path, `${quoteName(name)} is not a regular file`);
    }
    const limit = name.endsWith('.yml') ? limits.maxYamlBytes : limits.maxIconBytes;
    if (info.size > limit) {
      throw new ReleaseError(
        name.endsWith('.yml') ? 'YAML_TOO_LARGE' : 'ICON_TOO_LARGE',
        path,
        `${info.size} bytes; the limit is ${limit}`,
      );
    }
    files.push([name, await readBounded(path, limit)]);
  }
  return files;
}

/** Reads at most `limit` bytes, refusing a file that grew past it since lstat. */
async function readBounded(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > limit)
        throw new ReleaseError('PACK_UNREADABLE', path, 'grew past its size limit while read');
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
