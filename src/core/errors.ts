/**
 * The one error type. `code` is stable (UPPER_SNAKE, never reused) so that
 * callers and tests match on it; `status` is the HTTP status a server answers.
 */
export class WarrenError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WarrenError';
    this.code = code;
    this.status = status;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isWarrenError(err: unknown, code?: string): err is WarrenError {
  return err instanceof WarrenError && (code === undefined || err.code === code);
}

/** A message for logs and CLI output from anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
