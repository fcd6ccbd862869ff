import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'undici';
import { WarrenError } from '../core/errors.js';
import { readSmallFile } from '../core/release/keys.js';
import { expectRole } from '../core/tls.js';
import { readApiAnswer } from './api-answer.js';

/**
 * How the CLI reaches a store (`warren app publish|fetch|rotate-key`,
 * `warren store token`). The API token is a secret: from `WARREN_STORE_TOKEN`
 * or a file that only its owner may read (`--token-file`), never a flag.
 */
export interface StoreClientFlags {
  store: string;
  ca?: string;
  tokenFile?: string;
}

export class StoreClient {
  private readonly agent: Agent;

  constructor(
    readonly base: string,
    ca: string | undefined,
    private readonly token: string | undefined,
  ) {
    // With a private CA (a Warren CA), the store's certificate must carry the store role.
    this.agent = new Agent({
      connect: ca ? { ca, checkServerIdentity: expectRole('store', ca) } : {},
      connections: 4,
    });
  }

  static async fromFlags(flags: StoreClientFlags, needToken: boolean): Promise<StoreClient> {
    const base = flags.store.replace(/\/+$/, '');
    if (!/^https:\/\//.test(base)) {
      throw new WarrenError('BAD_FLAGS', `--store must be an https:// URL, not '${flags.store}'`, 400);
    }
    const ca = flags.ca ? readFileSync(flags.ca, 'utf8') : undefined;
    let token = process.env.WARREN_STORE_TOKEN || undefined;
    if (!token && flags.tokenFile) {
      token = (
        await readSmallFile(flags.tokenFile, 1024, 'token file', (mode) => {
          if ((mode & 0o077) !== 0) {
            throw new WarrenError(
              'TOKEN_FILE_TOO_OPEN',
              `token file ${flags.tokenFile} must be readable by its owner alone (chmod 600)`,
              400,
            );
          }
        })
      ).trim();
    }
    if (needToken && !token) {
      throw new WarrenError(
        'NOT_LOGGED_IN',
        "no store API token: set WARREN_STORE_TOKEN or pass --token-file (make one with 'warren store token create')",
        401,
      );
    }
    return new StoreClient(base, ca, token);
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** JSON in and out; an error answer becomes a WarrenError with the server's code. */
  async call<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const all: Record<string, string> = { ...headers };
    if (this.token) all.authorization = `Bearer ${this.token}`;
    if (body !== undefined) all['content-type'] = 'application/json';
    const res = await this.send(path, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await this.answer(res)) as T;
  }

  /** Logs in to the console API: the session cookie and its CSRF token, for {@link call}'s headers. */
  async login(name: string, password: string): Promise<{ cookie: string; 'x-csrf-token': string }> {
    const res = await this.send('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
    const answer = (await this.answer(res)) as { csrf_token: string };
    const cookie = [res.headers['set-cookie']].flat()[0]?.split(';')[0];
    if (!cookie) throw new WarrenError('STORE_ERROR', 'the store set no session cookie', 502);
    return { cookie, 'x-csrf-token': answer.csrf_token };
  }

  /** Uploads a release zip (streamed from disk) with its signature file. */
  async upload<T>(zipPath: string, signatureText: string): Promise<T> {
    const res = await this.send('/api/v1/releases', {
      method: 'POST',
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        'content-type': 'application/zip',
        'content-length': String(statSync(zipPath).size),
        'x-warren-signature': Buffer.from(signatureText, 'utf8').toString('base64'),
      },
      body: createReadStream(zipPath),
    });
    return (await this.answer(res)) as T;
  }

  /** GETs `path` as bytes, at most `maxBytes` (counted as they arrive), with their SHA-256. */
  async fetchBytes(
    path: string,
    maxBytes: number,
  ): Promise<{ bytes: Buffer; sha256: string; headers: Record<string, unknown> }> {
    const res = await this.send(path, { method: 'GET', headers: {} });
    if (res.statusCode >= 400) await this.answer(res);
    const chunks: Buffer[] = [];
    let total = 0;
    const hash = createHash('sha256');
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        res.body.destroy();
        throw new WarrenError('TOO_LARGE', `${this.base}${path} is larger than ${maxBytes} bytes`, 502);
      }
      hash.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    return { bytes: Buffer.concat(chunks), sha256: hash.digest('hex'), headers: res.headers };
  }

  private async send(path: string, options: Parameters<typeof request>[1] & object) {
    try {
      return await request(`${this.base}${path}`, { ...options, dispatcher: this.agent });
    } catch (err) {
      throw new WarrenError(
        'STORE_UNREACHABLE',
        `cannot reach the store at ${this.base}: ${String(err)}`,
        503,
      );
    }
  }

  private answer(res: Awaited<ReturnType<typeof request>>): Promise<unknown> {
    return readApiAnswer(res, 'store');
  }
}
