import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPool, parsePostgresUrl } from '../../../src/store/postgres/connection.js';
import { withRetry } from '../../../src/store/postgres/errors.js';
import { assertHeld, LeaseLostError, PostgresLease } from '../../../src/store/postgres/lease.js';
import { migrate } from '../../../src/store/postgres/migrate.js';
import { inTransaction } from '../../../src/store/postgres/transaction.js';
import { freshDatabase, terminateBackends } from '../../support/postgres.js';

const SCHEMA = 'entrasync';
let url: string;
const pools: pg.Pool[] = [];

/** One replica: a pool of its own and the lease seen through it. */
function replica(options: { lockWaitMs?: number } = {}) {
  const pool = createPool(parsePostgresUrl(url, {}));
  pools.push(pool);
  return { pool, lease: new PostgresLease(pool, SCHEMA, options) };
}

/** A write under the lease: the fencing check, then the write, in one transaction. */
function writeUnder(pool: pg.Pool, token: number, key: string) {
  return inTransaction(pool, async (client) => {
    await client.query(`INSERT INTO ${SCHEMA}.sync_state (key, value) VALUES ($1, 'written')`, [key]);
    await assertHeld(client, SCHEMA, token);
  });
}

async function written(key: string): Promise<boolean> {
  const { rows } = await pools[0]!.query(`SELECT 1 FROM ${SCHEMA}.sync_state WHERE key = $1`, [key]);
  return rows.length === 1;
}

/** Waits (bounded) until the lease has expired by the database's clock. */
async function untilExpired(lease: PostgresLease): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (await lease.holder()) {
    if (Date.now() > deadline) throw new Error('the lease did not expire');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  url = await freshDatabase('lease');
  const first = createPool(parsePostgresUrl(url, {}));
  pools.push(first);
  await migrate(first, SCHEMA);
});

beforeEach(async () => {
  await pools[0]!.query(`TRUNCATE ${SCHEMA}.locks, ${SCHEMA}.sync_state`);
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

describe('the cycle lease between two replicas', () => {
  it('A takes it; B is refused and sees A as the holder', async () => {
    const a = replica();
    const b = replica();
    const taken = await a.lease.tryAcquire('replica A', 30_000);
    expect(taken).toMatchObject({ taken: true });
    const refused = await b.lease.tryAcquire('replica B', 30_000);
    expect(refused).toMatchObject({ taken: false, owner: 'replica A' });
    expect(await b.lease.holder()).toEqual({
      owner: 'replica A',
      expiresAt: taken.taken ? taken.expiresAt : 0,
    });
    // B's write under a token it never had is refused as well.
    await expect(writeUnder(b.pool, taken.taken ? taken.token + 1 : 0, 'b')).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await written('b')).toBe(false);
  });

  it('A’s lease expires; B takes it with a greater token; A’s renew, release and writes then fail', async () => {
    const a = replica();
    const b = replica();
    const ta = await a.lease.tryAcquire('replica A', 300);
    if (!ta.taken) throw new Error('A should take the free lease');
    await writeUnder(a.pool, ta.token, 'a before');
    expect(await written('a before')).toBe(true);

    await untilExpired(b.lease);
    const tb = await b.lease.tryAcquire('replica B', 30_000);
    if (!tb.taken) throw new Error('B should take the expired lease');
    expect(tb.token).toBeGreaterThan(ta.token);

    const lost = await writeUnder(a.pool, ta.token, 'a after').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(lost).toBeInstanceOf(LeaseLostError);
    expect((lost as Error).message).toBe(
      `the cycle lease (token ${ta.token}) is no longer held: another replica may have taken it over`,
    );
    expect(await written('a after')).toBe(false);
    expect(await a.lease.renew(ta.token, 30_000)).toBe(false);
    expect(await a.lease.release(ta.token)).toBe(false);

    expect(await b.lease.holder()).toMatchObject({ owner: 'replica B' });
    await writeUnder(b.pool, tb.token, 'b');
    expect(await written('b')).toBe(true);
    expect(await b.lease.renew(tb.token, 30_000)).toBe(true);
    expect(await b.lease.release(tb.token)).toBe(true);
    expect(await a.lease.holder()).toBeNull();
    const again = await a.lease.tryAcquire('replica A', 30_000);
    expect(again.taken && again.token).toBeGreaterThan(tb.token);
  });

  it('a renewal keeps the lease past its first expiry', async () => {
    const a = replica();
    const b = replica();
    const ta = await a.lease.tryAcquire('replica A', 400);
    if (!ta.taken) throw new Error('A should take the free lease');
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      expect(await a.lease.renew(ta.token, 400)).toBe(true);
    }
    expect(await b.lease.tryAcquire('replica B', 400)).toMatchObject({ taken: false, owner: 'replica A' });
    await writeUnder(a.pool, ta.token, 'a');
    expect(await written('a')).toBe(true);
  });

  it('goes by the database’s clock, not the replica’s', async () => {
    const a = replica();
    const b = replica();
    expect(await a.lease.tryAcquire('replica A', 30_000)).toMatchObject({ taken: true });
    // B's clock runs an hour ahead: A's lease has not expired all the same.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(await b.lease.tryAcquire('replica B', 30_000)).toMatchObject({ taken: false, owner: 'replica A' });
    expect(await b.lease.holder()).toMatchObject({ owner: 'replica A' });
  });
});

describe('fencing of write transactions', () => {
  it('a takeover waits for the holder’s write transaction in flight, which commits before it', async () => {
    const a = replica();
    const b = replica({ lockWaitMs: 100 });
    const ta = await a.lease.tryAcquire('replica A', 300);
    if (!ta.taken) throw new Error('A should take the free lease');
    let tb: Awaited<ReturnType<PostgresLease['tryAcquire']>> | undefined;
    await inTransaction(a.pool, async (client) => {
      await assertHeld(client, SCHEMA, ta.token);
      // A's transaction is busy (a long statement) past its lease's expiry; B tries meanwhile.
      const busy = client.query('SELECT pg_sleep(0.8)');
      await untilExpired(b.lease);
      tb = await b.lease.tryAcquire('replica B', 30_000);
      await busy;
      await client.query(`INSERT INTO ${SCHEMA}.sync_state (key, value) VALUES ('a in flight', 'x')`);
    });
    // Expired by time, but A's transaction had checked it: B could not take over until A was done.
    expect(tb).toMatchObject({ taken: false, owner: 'replica A' });
    expect(await written('a in flight')).toBe(true);
    expect(await b.lease.tryAcquire('replica B', 30_000)).toMatchObject({ taken: true });
    await expect(writeUnder(a.pool, ta.token, 'a later')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await written('a later')).toBe(false);
  });

  it('a holder paused inside a write transaction past its lease is cut off by the server, and B takes over', async () => {
    const a = replica();
    const b = replica({ lockWaitMs: 5_000 });
    const ta = await a.lease.tryAcquire('replica A', 700);
    if (!ta.taken) throw new Error('A should take the free lease');
    const client = await a.pool.connect();
    const errors: Error[] = [];
    client.on('error', (e) => errors.push(e));
    try {
      await client.query('BEGIN');
      await assertHeld(client, SCHEMA, ta.token);
      await client.query(`INSERT INTO ${SCHEMA}.sync_state (key, value) VALUES ('a paused', 'x')`);
      // A is "paused" here: it sends nothing. B tries at every tick; it gets the lease once the
      // server has ended A's idle transaction (at A's lease expiry), not before.
      const refusals: string[] = [];
      const deadline = Date.now() + 10_000;
      let tb = await b.lease.tryAcquire('replica B', 30_000);
      while (!tb.taken && Date.now() < deadline) {
        refusals.push(tb.owner);
        await new Promise((r) => setTimeout(r, 100));
        tb = await b.lease.tryAcquire('replica B', 30_000);
      }
      expect(tb).toMatchObject({ taken: true });
      expect(refusals.length).toBeGreaterThan(0);
      expect(new Set(refusals)).toEqual(new Set(['replica A']));
      // A resumes: its transaction is gone, its write with it.
      await expect(client.query('COMMIT')).rejects.toThrow();
    } finally {
      client.release(true);
    }
    expect(await written('a paused')).toBe(false);
    expect(await b.lease.holder()).toMatchObject({ owner: 'replica B' });
  });

  it('bounds the transaction’s idle time by the lease left, keeping an operator’s shorter setting', async () => {
    const a = replica();
    const ta = await a.lease.tryAcquire('replica A', 30_000);
    if (!ta.taken) throw new Error('A should take the free lease');
    const idleTimeout = async (before: string) =>
      inTransaction(a.pool, async (client) => {
        await client.query(before);
        await assertHeld(client, SCHEMA, ta.token);
        const { rows } = await client.query(
          `SELECT setting::int AS ms FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'`,
        );
        return rows[0].ms as number;
      });
    const fromLease = await idleTimeout('SET LOCAL idle_in_transaction_session_timeout = 0');
    expect(fromLease).toBeGreaterThan(20_000);
    expect(fromLease).toBeLessThanOrEqual(30_000);
    expect(await idleTimeout('SET LOCAL idle_in_transaction_session_timeout = 5000')).toBe(5000);
    // Transaction-local: the pooled connection keeps no trace of it.
    expect(
      (await a.pool.query(`SELECT current_setting('idle_in_transaction_session_timeout') AS v`)).rows,
    ).toEqual([{ v: '0' }]);
  });

  it('a connection dropped under A: A’s retry on a fresh connection cannot write with its stale token', async () => {
    const a = replica();
    const b = replica();
    const ta = await a.lease.tryAcquire('replica A', 500);
    if (!ta.taken) throw new Error('A should take the free lease');
    let attempts = 0;
    const outcome = await withRetry(
      () =>
        inTransaction(a.pool, async (client) => {
          attempts++;
          await assertHeld(client, SCHEMA, ta.token);
          await client.query(`INSERT INTO ${SCHEMA}.sync_state (key, value) VALUES ('a', 'x')`);
          if (attempts === 1) {
            // The network drops A's connection in the middle of the write; while A is cut off, its
            // lease runs out and B takes over.
            const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            await terminateBackends([rows[0]!.pid]);
            await untilExpired(b.lease);
            expect(await b.lease.tryAcquire('replica B', 30_000)).toMatchObject({ taken: true });
          }
          await client.query('SELECT 1');
        }),
      { attempts: 3, baseMs: 10 },
    ).then(
      () => 'committed',
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(attempts).toBe(2);
    expect(await written('a')).toBe(false);
    expect(await a.lease.renew(ta.token, 30_000)).toBe(false);
    expect(await a.lease.holder()).toMatchObject({ owner: 'replica B' });
  });
});
