import { Client } from 'undici';
import { WarrenError } from '../core/errors.js';

/** A client of the local peer's API over its unix socket. */
export class PeerClient {
  private readonly client: Client;

  constructor(readonly socketPath: string) {
    this.client = new Client('http://localhost', { socketPath, bodyTimeout: 0, headersTimeout: 0 });
  }

  async json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.body.text();
    const parsed = text ? (JSON.parse(text) as T & { error?: { code: string; message: string } }) : ({} as T);
    if (res.statusCode >= 400) {
      const error = (parsed as { error?: { code: string; message: string } }).error;
      throw new WarrenError(
        error?.code ?? 'PEER_ERROR',
        error?.message ?? `peer answered ${res.statusCode}`,
        res.statusCode,
      );
    }
    return parsed;
  }

  async stream(path: string): Promise<{ length: number; body: AsyncIterable<Buffer> }> {
    const res = await this.request('GET', path);
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      let message = `peer answered ${res.statusCode}`;
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message;
      } catch {}
      throw new WarrenError('PEER_ERROR', message, res.statusCode);
    }
    return { length: Number(res.headers['content-length']), body: res.body as AsyncIterable<Buffer> };
  }

  private async request(method: string, path: string, body?: unknown) {
    try {
      return await this.client.request({
        method: method as 'GET',
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
        throw new WarrenError(
          'PEER_UNREACHABLE',
          `cannot open the peer's socket ${this.socketPath} (${code}): is 'warren peer' running, and may this user use it?`,
          503,
        );
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
