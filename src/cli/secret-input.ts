import { WarrenError } from '../core/errors.js';

/*
 * Passwords reach the CLI on a terminal (typed without echo) or on stdin
 * (`--password-stdin`, for scripts) — never as a flag, which `ps` and shell
 * history would show.
 */

/** Longest input line accepted (the manager's password limit is 1,024 characters). */
const MAX_LINE = 4096;

/** True when a person can be asked: stdin and stderr are terminals. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/**
 * The first `count` lines of stdin (without their line ends). Stops reading
 * once it has them; fails naming what is missing when stdin ends early.
 */
export function readStdinLines(count: number, what: string): Promise<string[]> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let buffer = '';
    const finish = (err?: Error) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
      if (err) return reject(err);
      const lines = buffer
        .split('\n')
        .map((l) => l.replace(/\r$/, ''))
        .slice(0, count);
      if (lines.length < count || lines.some((l) => l === '')) {
        return reject(
          new WarrenError('STDIN_SHORT', `expected ${what} on stdin: ${count} non-empty line(s)`, 400),
        );
      }
      resolve(lines);
    };
    const onData = (chunk: string) => {
      buffer += chunk;
      if (buffer.split('\n').length > count) return finish();
      if (buffer.length > MAX_LINE * count) finish(tooLong(what));
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(err);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}

/** Asks on the terminal without echoing what is typed. */
export function promptSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        // Ctrl-C, or Ctrl-D on an empty line.
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          return finish(new WarrenError('CANCELLED', 'cancelled', 400));
        }
        if (ch === '\u007f' || ch === '\b') {
          value = Array.from(value).slice(0, -1).join('');
        } else if (ch >= ' ') {
          value += ch;
          if (value.length > MAX_LINE) return finish(tooLong('the password'));
        }
      }
    };
    process.stderr.write(prompt);
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

/** Asks twice for a new password and insists the two match. */
export async function promptNewPassword(what: string): Promise<string> {
  const first = await promptSecret(`${what}: `);
  const again = await promptSecret(`${what} (again): `);
  if (first !== again) throw new WarrenError('PASSWORD_MISMATCH', 'the two passwords differ', 400);
  return first;
}

function tooLong(what: string): WarrenError {
  return new WarrenError('STDIN_TOO_LONG', `${what} on stdin is longer than ${MAX_LINE} characters`, 400);
}
