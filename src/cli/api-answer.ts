import type { Dispatcher } from 'undici';
import { WarrenError } from '../core/errors.js';

/**
 * The body of a Warren REST answer (manager or store): JSON when it parses,
 * and for a 4xx/5xx the server's `{error: {code, message}}` as a WarrenError
 * (with Retry-After named when the server sent one).
 */
export async function readApiAnswer(
  res: Dispatcher.ResponseData<unknown>,
  server: 'manager' | 'store',
): Promise<unknown> {
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  if (res.statusCode >= 400) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const retry = res.headers['retry-after'];
    throw new WarrenError(
      error?.code ?? `${server.toUpperCase()}_ERROR`,
      `${error?.message ?? `the ${server} answered ${res.statusCode}`}${retry ? ` (retry after ${retry} s)` : ''}`,
      res.statusCode,
    );
  }
  return parsed;
}
