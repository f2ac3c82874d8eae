/**
 * Which PostgreSQL failures are worth another attempt, and the retry loop: like Graph faults, a
 * lost connection, a server restarting, a statement timeout or a serialization failure is retried
 * with backoff; anything else (a constraint, a syntax error, a lost lease) fails at once.
 */
import { backoffDelay, sleep } from '../../backoff.js';

/** System errors of a connection that failed or broke. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** SQLSTATEs that say "try again": the server going away or not ready, contention, a timeout. */
const RETRYABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: terminated by an administrator (or pg_terminate_backend), or a restart
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '57014', // query_canceled: statement_timeout
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
]);

/** Driver messages of a connection lost without a code (pg's own, not the server's). */
const CONNECTION_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
];

export function isRetryable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || RETRYABLE_SQLSTATES.has(code)) return true;
      // Class 08: connection exceptions.
      if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    }
    if (typeof message === 'string' && CONNECTION_MESSAGES.some((m) => m.test(message))) return true;
  }
  return false;
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The first retry's delay ceiling; it doubles per retry, up to capMs, with jitter. */
  baseMs: number;
  capMs?: number;
  /** Told of each failure that will be retried (for a log line). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `fn` until it succeeds, a failure is not retryable, or the attempts are used up (the last
 * error is thrown). `fn` must be a whole unit: a transaction begun and committed inside it, on a
 * connection taken inside it, so a retry starts afresh on a connection that works.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !isRetryable(error)) throw error;
      const delay = backoffDelay(attempt, options.baseMs, options.capMs ?? 30_000);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}
