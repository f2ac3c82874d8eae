import type { Db } from './db.js';
import { failingUserName, namedUser } from './named-user.js';
import { prepared } from './statements.js';

/**
 * How the escrow entry of a user whose Graph data was unusable begins (pending_users.last_error):
 * such a user's mirror is stale, so it is read again in full when it is due, never merged with a
 * `return=minimal` change.
 */
export const UNUSABLE_DATA = 'unusable data from Graph: ';

export interface RetrySpacing {
  baseSeconds: number;
  maxSeconds: number;
}

export interface FailingUser {
  entraId: string;
  /** Its row's userName, else the one its last audit row names; null when none is known. */
  userName: string | null;
  failures: number;
  lastError: string | null;
  retryAfter: string | null;
}

/** Whether a pending row is an unusable-data escrow (SQL, over `failures` and `last_error`). */
const IS_UNUSABLE = `failures > 0 AND substr(coalesce(last_error, ''), 1, length(@prefix)) = @prefix`;

/**
 * Users whose facts changed and who still need a plan (durable, so a crash loses none), and the
 * users whose change failed (Entra's escrow): retried in later cycles with growing spacing.
 */
export class PendingQueue {
  constructor(private readonly db: Db) {}

  /** New facts about a failing user make it due again at once. */
  mark(entraId: string): void {
    prepared(
      this.db,
      'INSERT INTO pending_users (entra_id) VALUES (?) ON CONFLICT (entra_id) DO UPDATE SET retry_after = NULL',
    ).run(entraId);
  }

  /**
   * The user was planned and its change applied or skipped. A user whose data is unusable stays
   * escrowed whatever its plan did (a decisive disable, say): only usable data, or its removal from
   * Graph, ends that (usableAgain).
   */
  clear(entraId: string): void {
    prepared(this.db, `DELETE FROM pending_users WHERE entra_id = @id AND NOT (${IS_UNUSABLE})`).run({
      id: entraId,
      prefix: UNUSABLE_DATA,
    });
  }

  /** Graph's data on a user whose data was unusable is usable again (or the user was removed). */
  usableAgain(entraId: string): void {
    prepared(this.db, 'DELETE FROM pending_users WHERE entra_id = ?').run(entraId);
  }

  /**
   * Keeps a failed user pending: the cycle that failed does not try it again, and later cycles
   * retry it with spacing that doubles from `baseSeconds` up to `maxSeconds`. The unusable-data mark
   * is the user's escrow state: another failure meanwhile does not erase it.
   */
  fail(entraId: string, cycleId: string, error: string, spacing: RetrySpacing): void {
    const first = new Date(
      Date.now() + Math.min(spacing.maxSeconds, spacing.baseSeconds) * 1000,
    ).toISOString();
    prepared(
      this.db,
      `INSERT INTO pending_users (entra_id, failed_cycle, failures, last_error, retry_after)
       VALUES (@id, @cycle, 1, @error, @first)
       ON CONFLICT (entra_id) DO UPDATE SET failed_cycle = @cycle, failures = failures + 1,
       last_error = CASE WHEN ${IS_UNUSABLE} AND substr(@error, 1, length(@prefix)) <> @prefix
         THEN last_error ELSE @error END,
       retry_after = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',
         '+' || min(@maxSeconds, @baseSeconds * (1 << min(failures, 30))) || ' seconds')`,
    ).run({ id: entraId, cycle: cycleId, error, first, prefix: UNUSABLE_DATA, ...spacing });
  }

  /** Pending users after `afterId` that are due: not failed in `cycleId`, past their retry time. */
  dueAfter(afterId: string, limit: number, cycleId: string, now = new Date().toISOString()): string[] {
    return prepared<[string, string, string, number], string>(
      this.db,
      `SELECT entra_id FROM pending_users WHERE entra_id > ? AND (failed_cycle IS NULL OR failed_cycle <> ?)
       AND (retry_after IS NULL OR retry_after <= ?) ORDER BY entra_id LIMIT ?`,
    )
      .pluck()
      .all(afterId, cycleId, now, limit);
  }

  /** Users whose data was unusable when last read, with the cycle that last failed them. */
  unusableUsers(): Map<string, string | null> {
    const rows = prepared<{ prefix: string }, { entra_id: string; failed_cycle: string | null }>(
      this.db,
      `SELECT entra_id, failed_cycle FROM pending_users WHERE ${IS_UNUSABLE}`,
    ).all({ prefix: UNUSABLE_DATA });
    return new Map(rows.map((r) => [r.entra_id, r.failed_cycle]));
  }

  /** Users whose data was unusable and who are due for a retry: read again in full. */
  dueUnusable(cycleId: string, now = new Date().toISOString()): string[] {
    return prepared<{ prefix: string; cycle: string; now: string }, string>(
      this.db,
      `SELECT entra_id FROM pending_users WHERE ${IS_UNUSABLE}
         AND (failed_cycle IS NULL OR failed_cycle <> @cycle) AND (retry_after IS NULL OR retry_after <= @now)
         ORDER BY entra_id`,
    )
      .pluck()
      .all({ prefix: UNUSABLE_DATA, cycle: cycleId, now });
  }

  /** Users whose change failed and who wait for a retry. */
  failing(limit = 100): FailingUser[] {
    return prepared<[number], FailingUser>(
      this.db,
      `SELECT p.entra_id AS entraId, ${failingUserName('')} AS userName, p.failures,
         p.last_error AS lastError, p.retry_after AS retryAfter
         FROM pending_users p LEFT JOIN users u ON u.external_id = p.entra_id
         WHERE p.failures > 0 ORDER BY p.retry_after LIMIT ?`,
    ).all(limit);
  }

  failingCount(): number {
    return prepared<[], number>(this.db, 'SELECT count(*) FROM pending_users WHERE failures > 0')
      .pluck()
      .get()!;
  }

  /** `entrasync retry`: failed users (all, or the one named: Entra id, local id, userName) become due. */
  retryFailed(user?: string): number {
    const named = user ? ` AND ${namedUser('', '@u', (c) => `${c} = @u COLLATE NOCASE`)}` : '';
    const sql = `UPDATE pending_users SET retry_after = NULL, failed_cycle = NULL WHERE failures > 0${named}`;
    return prepared(this.db, sql).run(user ? { u: user } : {}).changes;
  }

  count(): number {
    return prepared<[], number>(this.db, 'SELECT count(*) FROM pending_users').pluck().get()!;
  }
}
