import { createHash } from 'node:crypto';
import type { Db } from './db.js';
import { prepared } from './statements.js';

/** Keys of sync_state. Delta links are written only together with the writes of their round. */
export type StateKey =
  | 'users_delta_link'
  | 'users_delta_saved_at'
  | 'groups_delta_link'
  | 'groups_delta_saved_at'
  | 'fingerprint'
  | 'generation'
  | 'service_principal_id'
  | 'assignments_digest';

/**
 * What a resync forgets: where the delta rounds were, and the last assignment listing, so the next
 * cycle enumerates everything and compares every assignment.
 */
export const DELTA_STATE_KEYS: readonly StateKey[] = [
  'users_delta_link',
  'users_delta_saved_at',
  'groups_delta_link',
  'groups_delta_saved_at',
  'assignments_digest',
];

/** The sync_state key that records a malformed element from Graph as reported (one per element). */
export const reportKey = (elementKey: string) =>
  `reported:${createHash('sha256').update(elementKey).digest('hex').slice(0, 32)}`;

/**
 * The element key of a skip audited once (a user skipped at first sight): one per user and reason,
 * so a full round that plans the user again writes no second row.
 */
export const onceKey = (entraId: string, code: string) => `skipped:${entraId}:${code}`;

export class SyncState {
  constructor(private readonly db: Db) {}

  get(key: StateKey): string | null {
    const row = prepared(this.db, 'SELECT value FROM sync_state WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value ?? null;
  }

  set(key: StateKey, value: string): void {
    prepared(
      this.db,
      'INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ).run(key, value);
  }

  delete(...keys: StateKey[]): void {
    const stmt = prepared(this.db, 'DELETE FROM sync_state WHERE key = ?');
    for (const k of keys) stmt.run(k);
  }

  /** A new generation number for a full enumeration; rows it lists are stamped with it. */
  nextGeneration(): number {
    const next = Number(this.get('generation') ?? '0') + 1;
    this.set('generation', String(next));
    return next;
  }

  /**
   * Forget where the delta rounds were, and the last assignment listing: the next cycle enumerates
   * everything and compares every assignment (resync).
   */
  forgetDeltaState(): void {
    this.delete(...DELTA_STATE_KEYS);
  }

  /**
   * Records that a malformed element from Graph was reported; false when it had been already. One
   * small row per distinct element, so a listing that repeats it every cycle is audited once.
   */
  firstReport(elementKey: string): boolean {
    return (
      prepared(this.db, 'INSERT OR IGNORE INTO sync_state (key, value) VALUES (?, ?)').run(
        reportKey(elementKey),
        new Date().toISOString(),
      ).changes > 0
    );
  }
}
