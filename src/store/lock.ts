import { hostname } from 'node:os';
import type { Db } from './db.js';
import { StoreWaitAborted, writeWhenFree } from './write-wait.js';
import { prepared } from './statements.js';

/** The lease of the sync cycle (the only one today). */
export const CYCLE_LEASE = 'cycle';

export interface LeaseHolder {
  owner: string;
  expiresAt: number;
}

/** An owner string for this process: the host and pid let a successor spot a dead holder. */
export function leaseOwner(what: string): string {
  return `${hostname()} pid ${process.pid} ${what}`;
}

/**
 * A holder on this host whose process is gone (killed, crashed) need not be waited out: its lease is
 * taken over at once. Holders on other hosts (a shared volume) still expire by time.
 */
export function holderIsDead(owner: string): boolean {
  const m = /^(\S+) pid (\d+) /.exec(owner);
  if (!m || m[1] !== hostname() || Number(m[2]) === process.pid) return false;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * A lease in the database: one cycle at a time across processes (the daemon and a CLI command).
 * A lease is renewed while its cycle runs; one whose process died simply expires.
 */
export class CycleLease {
  private renewTimer?: NodeJS.Timeout;
  private renewRetry?: NodeJS.Timeout;
  /** Set when a renewal found the lease in another owner's hands: this cycle must not go on writing. */
  lost = false;

  constructor(
    private readonly db: Db,
    readonly owner: string,
    private readonly ttlMs: number,
    private readonly name = CYCLE_LEASE,
  ) {}

  /**
   * Takes the lease if it is free or expired; otherwise returns who holds it. Waits (without
   * blocking) while another connection holds the store's write lock.
   */
  tryAcquire(): Promise<LeaseHolder | null> {
    return writeWhenFree(this.db, 'cycle lease', (): LeaseHolder | null => {
      const now = Date.now();
      const holder = readLease(this.db, this.name);
      if (holder && holder.owner !== this.owner && holder.expiresAt > now && !holderIsDead(holder.owner)) {
        return holder;
      }
      prepared(
        this.db,
        `INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`,
      ).run(this.name, this.owner, now + this.ttlMs);
      return null;
    });
  }

  /** Waits for the lease, calling `onWait` once with the holder when it has to wait. */
  async acquire(onWait: (holder: LeaseHolder) => void, pollMs = 500, timeoutMs = Infinity): Promise<void> {
    await waitForLease(() => this.tryAcquire(), onWait, pollMs, timeoutMs);
    this.renewTimer = setInterval(() => this.renew(), Math.max(1000, this.ttlMs / 3));
    this.renewTimer.unref();
  }

  private renew(): void {
    try {
      const { changes } = prepared(
        this.db,
        'UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ?',
      ).run(Date.now() + this.ttlMs, this.name, this.owner);
      if (changes === 0) this.lost = true;
    } catch {
      // The application holds the write lock (attempts are short): try again in a second rather than
      // at the next interval, so a busy application does not let the lease run out.
      clearTimeout(this.renewRetry);
      this.renewRetry = setTimeout(() => this.renew(), 1000);
      this.renewRetry.unref();
    }
  }

  /**
   * Gives the lease up, waiting for the store's write lock like any write. A process that is stopping
   * does not wait: the lease is then left to expire (or to be taken over at once on this host).
   */
  async release(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    clearTimeout(this.renewRetry);
    this.renewTimer = undefined;
    try {
      await writeWhenFree(this.db, 'cycle lease release', () =>
        prepared(this.db, 'DELETE FROM locks WHERE name = ? AND owner = ?').run(this.name, this.owner),
      );
    } catch (error) {
      if (!(error instanceof StoreWaitAborted)) throw error;
    }
  }

  async holder(): Promise<LeaseHolder | null> {
    return readLeaseHolder(this.db, this.name);
  }
}

/** The lease `name`'s holder, expired or not; null when no one holds it. */
function readLease(db: Db, name: string): LeaseHolder | null {
  const row = prepared(db, 'SELECT owner, expires_at FROM locks WHERE name = ?').get(name) as
    { owner: string; expires_at: number } | undefined;
  return row ? { owner: row.owner, expiresAt: row.expires_at } : null;
}

/** The lease `name`'s holder at `now`; null when no one holds it or it expired. */
export function readLeaseHolder(db: Db, name: string, now = Date.now()): LeaseHolder | null {
  const holder = readLease(db, name);
  return holder && holder.expiresAt > now ? holder : null;
}

/** Tries `take` until it returns no holder, telling `onWait` once who holds the lease meanwhile. */
export async function waitForLease(
  take: () => Promise<LeaseHolder | null>,
  onWait: (holder: LeaseHolder) => void,
  pollMs: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    const holder = await take();
    if (!holder) return;
    if (!told) {
      onWait(holder);
      told = true;
    }
    if (Date.now() > deadline) throw new Error(`the cycle lease is still held by ${holder.owner}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
