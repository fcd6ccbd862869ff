import { spawn } from 'node:child_process';
import { WarrenError } from '../../core/errors.js';

/*
 * The operator's DNS hook: an executable that creates or removes one TXT
 * record at their DNS provider, so ACME renewal runs unattended. It is run as
 *   <hook> present   (create the record)
 *   <hook> cleanup   (remove it)
 * with the record in its environment, never on the command line (where every
 * user of the machine could read it):
 *   WARREN_DNS_NAME   the record's name, e.g. _acme-challenge.example.com
 *   WARREN_DNS_VALUE  the TXT value
 *   WARREN_DOMAIN     the cloud's domain
 * plus PATH, HOME, LANG and TZ from Warren's own environment, and nothing else
 * (no secret of Warren's reaches it). For a wildcard certificate both values
 * share one name: the hook is run once per value and must add a value, not
 * replace the record. It must exit 0 within the timeout; its output is kept
 * (bounded) for the error message.
 */

export type DnsHookAction = 'present' | 'cleanup';

export interface TxtRecord {
  name: string;
  value: string;
}

const OUTPUT_LIMIT = 4096;
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'TZ'];

/** Runs the hook once for `record`; throws ACME_HOOK_FAILED with its output when it fails. */
export function runDnsHook(
  hook: string,
  action: DnsHookAction,
  record: TxtRecord,
  domain: string,
  timeoutMs: number,
): Promise<void> {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
  env.WARREN_DNS_NAME = record.name;
  env.WARREN_DNS_VALUE = record.value;
  env.WARREN_DOMAIN = domain;
  return new Promise((resolve, reject) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    const fail = (why: string) =>
      reject(
        new WarrenError(
          'ACME_HOOK_FAILED',
          `the DNS hook '${hook} ${action}' for ${record.name} ${why}${output.trim() ? `: ${output.trim()}` : ''}`,
          502,
        ),
      );
    // In its own process group, so that a timeout kills whatever it started too;
    // our own timer, not spawn's `timeout` (which outlives a hook that failed to start).
    const child = spawn(hook, [action], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      fail(`did not finish within ${timeoutMs} ms`);
    }, timeoutMs);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(`could not be started (${err.message})`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else if (signal) fail(`was killed by ${signal}`);
      else fail(`exited with status ${code}`);
    });
  });
}
