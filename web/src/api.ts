import { friendlyMessage, parseErrorBody } from './messages.js';

/** An API error as the console shows it: a sentence for the user, the server's detail and code. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly detail: string;

  constructor(code: string, status: number, detail: string) {
    super(friendlyMessage(code, status, detail));
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.detail = detail;
  }
}

let csrfToken: string | null = null;
let onSignedOut: (() => void) | null = null;

/** The CSRF token from login or GET /api/v1/me; sent on every state-changing request. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request finds the session gone (401), so the console shows the sign-in form. */
export function onSessionLost(handler: (() => void) | null): void {
  onSignedOut = handler;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as a lost session (login itself, GET /me at start). */
  quiet401?: boolean;
}

/** Sends a request; the raw Response when it is 2xx, an ApiError otherwise. */
export async function send(method: Method, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError('NETWORK', 0, err instanceof Error ? err.message : String(err));
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  const parsed = parseErrorBody(text);
  const error = parsed
    ? new ApiError(parsed.code, res.status, parsed.message)
    : new ApiError(`HTTP_${res.status}`, res.status, text.slice(0, 300) || res.statusText);
  if (res.status === 401 && !options.quiet401 && error.code !== 'TOTP_REQUIRED') onSignedOut?.();
  throw error;
}

/** A JSON request; undefined for 204 No Content. */
export async function api<T>(method: Method, path: string, options: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, options);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError('BAD_RESPONSE', res.status, 'the server sent an answer that is not JSON');
  }
}

/** A path segment, encoded. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
