import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/index.js';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout. Secrets never reach a log call on purpose; the redaction is a second line of
 * defence for an error object that carries request options or form bodies.
 */
export function createLogger(
  level: LogLevel = 'info',
  destination: NodeJS.WritableStream = process.stdout,
): Logger {
  return pino(
    {
      level,
      base: { name: 'entrasync' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'secret',
          'clientSecret',
          'client_secret',
          'accessToken',
          'access_token',
          'token',
          'authorization',
          'headers.authorization',
          'headers.Authorization',
          '*.clientSecret',
          '*.client_secret',
          '*.accessToken',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination as pino.DestinationStream,
  );
}
