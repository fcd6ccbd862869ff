import { type Dispatcher, Pool } from 'undici';
import { errorMessage, WarrenError } from '../../core/errors.js';

/*
 * Requests to the Docker Engine API over its unix socket: bounded answers,
 * timeouts, and Docker's refusals turned into DockerErrors that name the
 * operation and carry Docker's own message.
 */

/** A failed Engine API call: code DOCKER_ERROR (or DOCKER_UNAVAILABLE), Docker's HTTP status in `engineStatus`. */
export class DockerError extends WarrenError {
  constructor(
    code: string,
    message: string,
    readonly engineStatus: number,
    status = 502,
  ) {
    super(code, message, status);
    this.name = 'DockerError';
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof DockerError && err.engineStatus === 404;
}

export interface Call {
  method: Dispatcher.HttpMethod;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Statuses other than 2xx that are not errors (e.g. 304 on start). */
  accept?: number[];
  /** Time to Docker's answer (headers); default the engine's timeoutMs. */
  timeoutMs?: number;
  /** Longest silence while reading the body (0: none); default timeoutMs. */
  bodyTimeoutMs?: number;
}

export class EngineTransport {
  readonly pool: Pool;

  constructor(
    readonly socketPath: string,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly maxBodyBytes: number,
  ) {
    this.pool = new Pool('http://docker', { socketPath, connections: 4 });
  }

  /** A 2xx JSON answer, parsed. */
  async json<T>(operation: string, call: Call): Promise<T> {
    const res = await this.send(this.pool, operation, call);
    const text = await this.read(res.body, operation);
    if (res.statusCode >= 300) throw this.refusal(operation, res.statusCode, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new DockerError(
        'DOCKER_ERROR',
        `Docker Engine: ${operation}: the answer is not JSON`,
        res.statusCode,
      );
    }
  }

  /** A 2xx answer (or one of `accept`), body read and dropped. */
  async call(operation: string, call: Call): Promise<void> {
    const res = await this.send(this.pool, operation, call);
    const text = await this.read(res.body, operation);
    if (res.statusCode >= 300 && !(call.accept ?? []).includes(res.statusCode)) {
      throw this.refusal(operation, res.statusCode, text);
    }
  }

  async send(dispatcher: Dispatcher, operation: string, call: Call): Promise<Dispatcher.ResponseData> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) query.set(key, String(value));
    }
    const search = query.size > 0 ? `?${query}` : '';
    const timeout = call.timeoutMs ?? this.timeoutMs;
    try {
      return await dispatcher.request({
        method: call.method,
        path: `${this.prefix}${call.path}${search}`,
        headers: call.body === undefined ? {} : { 'content-type': 'application/json' },
        body: call.body === undefined ? null : JSON.stringify(call.body),
        headersTimeout: timeout,
        bodyTimeout: call.bodyTimeoutMs ?? timeout,
      });
    } catch (err) {
      throw this.unreachable(operation, err);
    }
  }

  private unreachable(operation: string, err: unknown): DockerError {
    const code = (err as { code?: string }).code ?? '';
    if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'ECONNRESET'].includes(code)) {
      return new DockerError(
        'DOCKER_UNAVAILABLE',
        `app installs need a Docker Engine: cannot reach ${this.socketPath} (${code})`,
        0,
        503,
      );
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new DockerError('DOCKER_TIMEOUT', `Docker Engine: ${operation}: no answer in time`, 0, 504);
    }
    return new DockerError('DOCKER_ERROR', `Docker Engine: ${operation}: ${errorMessage(err)}`, 0);
  }

  refusal(operation: string, status: number, text: string): DockerError {
    let message = text.trim().slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message.slice(0, 500);
    } catch {}
    const httpStatus = status === 404 ? 404 : status === 409 ? 409 : 502;
    return new DockerError(
      'DOCKER_ERROR',
      `Docker Engine: ${operation}: ${message || `HTTP ${status}`}`,
      status,
      httpStatus,
    );
  }

  async read(body: Dispatcher.ResponseData['body'], operation: string): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        body.destroy();
        throw new DockerError(
          'DOCKER_ERROR',
          `Docker Engine: ${operation}: the answer is larger than ${this.maxBodyBytes} bytes`,
          0,
        );
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}
