import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays free for command output).
 * Secrets are redacted by key wherever they appear.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'warren',
      level: options.level ?? process.env.WARREN_LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          '*.authorization',
          '*.Authorization',
          '*.headers.authorization',
          '*.headers.Authorization',
          '*.password',
          '*.token',
          '*.key',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}

/** A logger that writes nothing, for tests and pure code. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
