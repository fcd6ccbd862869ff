import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/*
 * Skip helpers for node:test: `test('…', { skip: requireCommand('nginx') }, …)`.
 * They return a reason string when something is missing (the test is skipped)
 * and undefined when all is there. Under CI (`CI` set) a missing tool is an
 * error instead, so a CI run never passes by silently skipping.
 */

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in the sbin folders), or undefined. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** Skip reason when `name` is not installed; throws under CI. */
export function requireCommand(name: string): string | undefined {
  return findCommand(name) ? undefined : missing(`command '${name}' is not installed`);
}

/** Skip reason when not running as root; throws under CI. */
export function requireRoot(): string | undefined {
  return process.getuid?.() === 0 ? undefined : missing('this test needs root');
}

/** A system user's ids from /etc/passwd, or undefined. */
export function lookupUser(name: string): { uid: number; gid: number } | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined)
      return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** Skip reason when the system user `name` (e.g. 'nobody') does not exist; throws under CI. */
export function requireUser(name: string): string | undefined {
  return lookupUser(name) ? undefined : missing(`system user '${name}' does not exist`);
}

function missing(reason: string): string {
  if (process.env.CI) throw new Error(`${reason}, and CI must not skip tests (see .ci/run)`);
  return reason;
}
