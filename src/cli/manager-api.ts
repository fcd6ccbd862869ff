import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { Agent, request } from 'undici';
import { WarrenError } from '../core/errors.js';
import { expectRole } from '../core/tls.js';
import { readApiAnswer } from './api-answer.js';

/**
 * How the CLI reaches the manager's REST API. A token is a secret, so it never
 * comes from a flag (flags show up in `ps` and shell history): it comes from
 * `WARREN_TOKEN` or from the credentials file `warren login` writes (0600).
 */
export interface Credentials {
  manager: string;
  /** PEM of the CA that signed the manager's certificate. */
  ca: string;
  token: string;
  user?: string;
}

export interface ManagerFlags {
  manager?: string;
  caFile?: string;
}

/** Adds `--manager` and `--ca-file` to a command that talks to the manager. */
export function managerOptions(cmd: Command): Command {
  return cmd
    .option('--manager <url>', 'manager REST address (default: from warren login, or WARREN_MANAGER)')
    .option('--ca-file <file>', "CA certificate that signed the manager's (default: from warren login)");
}

export function credentialsPath(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'warren', 'credentials.json');
}

export function readCredentials(): Partial<Credentials> {
  const path = credentialsPath();
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<Credentials>;
  } catch {
    throw new WarrenError('CREDENTIALS_INVALID', `${path} is not valid JSON; run 'warren login' again`, 400);
  }
}

export function writeCredentials(credentials: Credentials): string {
  const path = credentialsPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** The local all-in-one's CA, used when nothing else names one. */
const UP_CA = join('warren-data', 'manager', 'ca', 'ca.crt');

/** A REST client: JSON in and out; an error answer becomes a WarrenError with the server's code. */
export class ManagerApi {
  private readonly agent: Agent;

  constructor(
    readonly base: string,
    /** PEM of the CA the manager's certificate is checked against (`warren login` saves it). */
    readonly ca: string,
    private readonly token: string | undefined,
  ) {
    // The manager's certificate, if from the Warren CA, must carry the manager
    // role: every component certificate also names localhost.
    this.agent = new Agent({
      connect: { ca, checkServerIdentity: expectRole('manager', ca) },
      connections: 4,
    });
  }

  /** From flags, `WARREN_MANAGER`/`WARREN_TOKEN`/`WARREN_CA_FILE`, and the credentials file. */
  static fromFlags(flags: ManagerFlags, options: { needToken?: boolean } = {}): ManagerApi {
    const saved = readCredentials();
    const base = (
      flags.manager ??
      process.env.WARREN_MANAGER ??
      saved.manager ??
      'https://127.0.0.1:8443'
    ).replace(/\/+$/, '');
    const caFile = flags.caFile ?? process.env.WARREN_CA_FILE;
    let ca = caFile ? readCaFile(caFile) : saved.manager === base ? saved.ca : undefined;
    if (!ca && existsSync(UP_CA)) ca = readCaFile(UP_CA);
    if (!ca) {
      throw new WarrenError(
        'CA_UNKNOWN',
        `no CA certificate for ${base}: pass --ca-file (the manager's <data>/ca/ca.crt) or run 'warren login'`,
        400,
      );
    }
    const token = process.env.WARREN_TOKEN || (saved.manager === base ? saved.token : undefined);
    if (options.needToken !== false && !token) {
      throw new WarrenError('NOT_LOGGED_IN', "not logged in: run 'warren login' or set WARREN_TOKEN", 401);
    }
    return new ManagerApi(base, ca, token);
  }

  async call<T = unknown>(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.agent,
      });
    } catch (err) {
      throw new WarrenError(
        'MANAGER_UNREACHABLE',
        `cannot reach the manager at ${this.base}: ${String(err)}`,
        503,
      );
    }
    return (await readApiAnswer(res, 'manager')) as T;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new WarrenError(
      'CA_UNREADABLE',
      `cannot read CA file ${path}: ${(err as NodeJS.ErrnoException).code}`,
      400,
    );
  }
}

/** A ManagerApi for the duration of `run`. */
export async function withApi(
  flags: ManagerFlags & object,
  run: (api: ManagerApi) => Promise<void>,
): Promise<void> {
  const api = ManagerApi.fromFlags(flags);
  try {
    await run(api);
  } finally {
    await api.close();
  }
}
