/**
 * The cross-replica cycle lease, with fencing. The lease is a row of `locks`: its owner, its expiry
 * and a token from the `lease_token` sequence, greater for every new holder. Time is always the
 * database's clock (clock_timestamp()), never a replica's, so replicas with skewed clocks agree.
 *
 * Fencing: a holder can be paused (SIGSTOP, a long GC) or cut off past its expiry while another
 * replica takes over. Every write transaction therefore runs assertHeld() first: it locks the lease
 * row FOR SHARE where the token is still the holder's and unexpired, or throws LeaseLostError. While
 * that share lock is held, a takeover (an UPDATE of the row) waits for the transaction to end, so a
 * stale holder's commit can never interleave with the new holder's writes. A holder paused inside
 * such a transaction is ended by the server once its lease would have run out (assertHeld sets the
 * transaction's idle_in_transaction_session_timeout), which frees the row for the taker.
 */
import type pg from 'pg';
import { inTransaction } from './transaction.js';

/** The lease of the sync cycle. */
export const CYCLE_LEASE = 'cycle';

/** Milliseconds since the epoch, by the database's clock at the moment of the statement. */
const DB_NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

export interface LeaseHolder {
  owner: string;
  /** Milliseconds since the epoch (the database's clock). */
  expiresAt: number;
}

export type LeaseTake = { taken: true; token: number; expiresAt: number } | ({ taken: false } & LeaseHolder);

/** The lease this write was to be made under is gone (expired, or taken by another replica). */
export class LeaseLostError extends Error {
  constructor(
    readonly lease: string,
    readonly token: number,
  ) {
    super(`the ${lease} lease (token ${token}) is no longer held: another replica may have taken it over`);
    this.name = 'LeaseLostError';
  }
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * Checks, inside the caller's write transaction, that `token` still holds the lease, and keeps the
 * lease row share-locked until the transaction ends. Throws LeaseLostError otherwise: the caller's
 * transaction must then roll back (inTransaction does).
 */
export async function assertHeld(
  client: Queryable,
  schema: string,
  token: number,
  name = CYCLE_LEASE,
): Promise<void> {
  const { rowCount } = await client.query(
    `WITH held AS (
       SELECT expires_at FROM "${schema}".locks
        WHERE name = $1 AND token = $2 AND expires_at > ${DB_NOW_MS}
        FOR SHARE
     )
     SELECT set_config('idle_in_transaction_session_timeout', least(
              greatest(expires_at - ${DB_NOW_MS}, 1),
              -- an operator's shorter setting stays in force (0: none)
              (SELECT nullif(setting::bigint, 0) FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout')
            )::text, true)
       FROM held`,
    [name, token],
  );
  if (rowCount !== 1) throw new LeaseLostError(name, token);
}

export interface LeaseOptions {
  /** The lease's name (one row of `locks`). */
  name?: string;
  /**
   * How long tryAcquire waits for a holder's write transaction (which share-locks the row) before
   * answering that the lease is held.
   */
  lockWaitMs?: number;
}

export class PostgresLease {
  readonly name: string;
  private readonly lockWaitMs: number;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    options: LeaseOptions = {},
  ) {
    this.name = options.name ?? CYCLE_LEASE;
    this.lockWaitMs = Math.max(1, Math.round(options.lockWaitMs ?? 2000));
  }

  private get table(): string {
    return `"${this.schema}".locks`;
  }

  /**
   * Takes the lease if it is free or expired (with a new, greater token); else says who holds it.
   * A holder's own owner name gets no exception: a restarted replica waits for its old lease too.
   */
  async tryAcquire(owner: string, ttlMs: number, attempts = 3): Promise<LeaseTake> {
    // A plain read first: a live lease is answered at once, without queueing behind the holder's
    // write transaction (which share-locks the row) or drawing a token.
    const current = await this.holder();
    if (current) return { taken: false, ...current };
    try {
      const row = await inTransaction(this.pool, async (client) => {
        await client.query(`SET LOCAL lock_timeout = ${this.lockWaitMs}`);
        const { rows } = await client.query<{ token: number; expires_at: number }>(
          `INSERT INTO ${this.table} AS l (name, owner, expires_at, token)
           VALUES ($1, $2, ${DB_NOW_MS} + $3, nextval('"${this.schema}".lease_token'))
           ON CONFLICT (name) DO UPDATE
             SET owner = excluded.owner, expires_at = excluded.expires_at, token = excluded.token
             WHERE l.expires_at <= ${DB_NOW_MS}
           RETURNING token, expires_at`,
          [this.name, owner, Math.round(ttlMs)],
        );
        return rows[0];
      });
      if (row) return { taken: true, token: row.token, expiresAt: row.expires_at };
    } catch (error) {
      // lock_not_available: the holder's write transaction still has the row, expired or not.
      if ((error as { code?: string }).code !== '55P03') throw error;
    }
    const holder = await this.readRow();
    // Released between the two statements: free now, so try again.
    if (!holder && attempts > 1) return this.tryAcquire(owner, ttlMs, attempts - 1);
    return { taken: false, ...(holder ?? { owner: '(released meanwhile)', expiresAt: 0 }) };
  }

  /**
   * Takes the lease from `deadOwner` (a process of this host that is gone), with a new token, if it
   * still holds it. The server ends that process's connections, so no write of it is in flight.
   */
  async takeOver(owner: string, ttlMs: number, deadOwner: string): Promise<LeaseTake> {
    const { rows } = await this.pool.query<{ token: number; expires_at: number }>(
      `UPDATE ${this.table} SET owner = $2, expires_at = ${DB_NOW_MS} + $3,
         token = nextval('"${this.schema}".lease_token') WHERE name = $1 AND owner = $4
       RETURNING token, expires_at`,
      [this.name, owner, Math.round(ttlMs), deadOwner],
    );
    const row = rows[0];
    if (row) return { taken: true, token: row.token, expiresAt: row.expires_at };
    return this.tryAcquire(owner, ttlMs);
  }

  /**
   * Extends the lease by `ttlMs` from now, if `token` still holds it. False when another replica
   * took it over (or it was released): the holder has lost it and must stop writing. It waits for
   * this replica's own write transaction in flight, which share-locks the row.
   */
  async renew(token: number, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE ${this.table} SET expires_at = ${DB_NOW_MS} + $3 WHERE name = $1 AND token = $2`,
      [this.name, token, Math.round(ttlMs)],
    );
    return rowCount === 1;
  }

  /** Gives the lease up if `token` still holds it; true when it did. */
  async release(token: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${this.table} WHERE name = $1 AND token = $2`, [
      this.name,
      token,
    ]);
    return rowCount === 1;
  }

  /** The current holder, or null when the lease is free or expired. */
  async holder(): Promise<LeaseHolder | null> {
    const { rows } = await this.pool.query<{ owner: string; expires_at: number }>(
      `SELECT owner, expires_at FROM ${this.table} WHERE name = $1 AND expires_at > ${DB_NOW_MS}`,
      [this.name],
    );
    return rows[0] ? { owner: rows[0].owner, expiresAt: rows[0].expires_at } : null;
  }

  /** The lease row as it is, expired or not (a plain read: never waits for a share lock). */
  private async readRow(): Promise<LeaseHolder | null> {
    const { rows } = await this.pool.query<{ owner: string; expires_at: number }>(
      `SELECT owner, expires_at FROM ${this.table} WHERE name = $1`,
      [this.name],
    );
    return rows[0] ? { owner: rows[0].owner, expiresAt: rows[0].expires_at } : null;
  }
}
