import type { Db } from './db.js';

/**
 * How long one attempt at the write lock may block the event loop (SQLite's own busy handler). The
 * wait for a lock held longer (an application's write transaction) happens between attempts,
 * asynchronously, so the daemon keeps answering its probes and signals.
 */
export const LOCK_ATTEMPT_MS = 50;
/** A wait this long is reported (once per wait). */
const REPORT_AFTER_MS = 1000;
const FIRST_PAUSE_MS = 5;
const MAX_PAUSE_MS = 200;

/** A write gave up waiting for the lock because the process is stopping. */
export class StoreWaitAborted extends Error {
  override name = 'StoreWaitAborted';
}

export interface LockWaitListener {
  /** A write has waited REPORT_AFTER_MS for another connection's lock and still waits. */
  waiting(operation: string, waitedMs: number): void;
  /** A wait that was reported ended: the lock was taken, or the write gave up. */
  ended(operation: string, waitedMs: number, outcome: 'acquired' | 'gave up'): void;
}

/** The waits for one connection's write lock: their budget, their figures, and a way to end them. */
export class LockWaits {
  /** The longest a write waits before it fails as SQLite would (sync.busyTimeoutSeconds). */
  budgetMs = 30_000;
  listener?: LockWaitListener;
  private readonly current = new Set<{ since: number }>();
  private finishedMs = 0;
  private stopReason?: StoreWaitAborted;
  private readonly sleepers = new Set<(reason: Error) => void>();

  /** Writes waiting right now. */
  get waiting(): number {
    return this.current.size;
  }

  /** Seconds spent waiting since the connection opened, the running waits included. */
  waitedSeconds(now = Date.now()): number {
    let ms = this.finishedMs;
    for (const w of this.current) ms += now - w.since;
    return ms / 1000;
  }

  /** Ends every wait, now and later (a write that finds the lock free still runs). */
  abort(why: string): void {
    this.stopReason ??= new StoreWaitAborted(why);
    for (const wake of this.sleepers) wake(this.stopReason);
    this.sleepers.clear();
  }

  get aborted(): StoreWaitAborted | undefined {
    return this.stopReason;
  }

  /** @internal */ enter(since: number): { since: number } {
    const w = { since };
    this.current.add(w);
    return w;
  }

  /** @internal */ leave(w: { since: number }, now = Date.now()): number {
    this.current.delete(w);
    this.finishedMs += now - w.since;
    return now - w.since;
  }

  /** @internal */ pause(ms: number): Promise<void> {
    if (this.stopReason) return Promise.reject(this.stopReason);
    return new Promise((resolve, reject) => {
      const wake = (reason: Error) => {
        clearTimeout(timer);
        reject(reason);
      };
      const timer = setTimeout(() => {
        this.sleepers.delete(wake);
        resolve();
      }, ms);
      this.sleepers.add(wake);
    });
  }
}

const registry = new WeakMap<Db, LockWaits>();

/**
 * The lock waits of a connection. The first call takes the connection's busy timeout as the budget
 * and shortens the busy timeout itself to one attempt.
 */
export function lockWaitsOf(db: Db): LockWaits {
  let waits = registry.get(db);
  if (!waits) {
    waits = new LockWaits();
    waits.budgetMs = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma(`busy_timeout = ${LOCK_ATTEMPT_MS}`);
    registry.set(db, waits);
  }
  return waits;
}

export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * BEGIN IMMEDIATE, waiting between short attempts while another connection holds the write lock,
 * then `then` in the same tick (nothing else of this process can slip into the transaction). After
 * the budget the last SQLITE_BUSY is thrown, as SQLite's own busy timeout would.
 */
export async function beginWhenFree<T>(db: Db, operation: string, then: () => T): Promise<T> {
  const waits = lockWaitsOf(db);
  let wait: { since: number } | undefined;
  let reported = false;
  let outcome: 'acquired' | 'gave up' = 'gave up';
  try {
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        if (!isBusy(error)) throw error;
        const now = Date.now();
        wait ??= waits.enter(now);
        const waited = now - wait.since;
        if (waits.aborted) throw waits.aborted;
        if (waited >= waits.budgetMs) throw error;
        if (!reported && waited >= REPORT_AFTER_MS) {
          reported = true;
          waits.listener?.waiting(operation, waited);
        }
        await waits.pause(pause);
        continue;
      }
      outcome = 'acquired';
      return then();
    }
  } finally {
    if (wait) {
      const waited = waits.leave(wait);
      if (reported) waits.listener?.ended(operation, waited, outcome);
    }
  }
}

/**
 * Runs `fn` (synchronous) in a write transaction, waiting for the lock without blocking the event
 * loop. Inside an open transaction (a dry run) it is a savepoint and waits for nothing.
 */
export async function writeWhenFree<T>(db: Db, operation: string, fn: () => T): Promise<T> {
  if (db.inTransaction) return db.transaction(fn)();
  return beginWhenFree(db, operation, () => {
    try {
      const result = fn();
      db.exec('COMMIT');
      return result;
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  });
}

/**
 * The synchronous fallback for a write that cannot wait asynchronously: SQLite's busy handler with
 * the whole budget, blocking as before (not on the daemon's cycle path). No wait once stopping.
 */
export function blockingRetry<T>(db: Db, busy: unknown, run: () => T): T {
  const waits = lockWaitsOf(db);
  if (waits.aborted) throw busy;
  const wait = waits.enter(Date.now());
  db.pragma(`busy_timeout = ${waits.budgetMs}`);
  let outcome: 'acquired' | 'gave up' = 'gave up';
  try {
    const result = run();
    outcome = 'acquired';
    return result;
  } finally {
    db.pragma(`busy_timeout = ${LOCK_ATTEMPT_MS}`);
    const waited = waits.leave(wait);
    if (waited >= REPORT_AFTER_MS) waits.listener?.ended('blocking write', waited, outcome);
  }
}
