import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { WarrenError } from '../../core/errors.js';

/** The file in the data folder holding the instance secret. */
export const INSTANCE_SECRET_FILE = 'cloud-secret';

/**
 * The instance's secret key (32 random bytes, hex in `<data>/cloud-secret`,
 * mode 0600): made once, on the first start, and kept. It keys the CSRF
 * tokens, so replacing it only invalidates the tokens consoles hold (they
 * fetch new ones from `GET /api/v1/me`).
 */
export function loadOrCreateInstanceSecret(data: string): Buffer {
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const path = join(data, INSTANCE_SECRET_FILE);
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const fd = openSync(path, 'r');
  let text: string;
  try {
    const mode = fstatSync(fd).mode;
    if ((mode & 0o077) !== 0) {
      throw new WarrenError(
        'SECRET_PERMISSIONS_TOO_OPEN',
        `${path} has mode 0${(mode & 0o777).toString(8)}; it must be readable by its owner alone (chmod 600 ${path})`,
        500,
      );
    }
    text = readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new WarrenError('SECRET_MALFORMED', `${path} does not hold 64 hex characters`, 500);
  }
  return Buffer.from(text, 'hex');
}
