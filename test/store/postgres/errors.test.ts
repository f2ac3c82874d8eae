import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, parsePostgresUrl } from '../../../src/store/postgres/connection.js';
import { isRetryable, withRetry } from '../../../src/store/postgres/errors.js';
import { inTransaction } from '../../../src/store/postgres/transaction.js';
import { freshDatabase, terminateBackends } from '../../support/postgres.js';

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('isRetryable', () => {
  it('retries connection failures, server shutdowns, timeouts and serialization failures', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      '57P01',
      '57P02',
      '57P03',
      '08006',
      '08001',
      '08P01',
      '57014',
      '40001',
      '40P01',
    ]) {
      expect(isRetryable(Object.assign(new Error('x'), { code })), code).toBe(true);
    }
    expect(isRetryable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(
      isRetryable(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: '40001' }) })),
    ).toBe(true);
  });

  it('does not retry what another attempt cannot fix', () => {
    for (const code of ['23505', '42P01', '42601', '28P01', '3D000', '22P02', '55P03', 'ENOENT']) {
      expect(isRetryable(Object.assign(new Error('x'), { code })), code).toBe(false);
    }
    expect(isRetryable(new Error('the cycle lease (token 3) is no longer held'))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
    expect(isRetryable('Connection refused?')).toBe(false);
  });
});

describe('against the real server', () => {
  let pool: pg.Pool;

  beforeAll(async () => {
    const url = await freshDatabase('errors');
    pool = createPool(parsePostgresUrl(url, {}), { max: 4 });
    await pool.query('CREATE TABLE items (k integer NOT NULL, v text NOT NULL)');
  });

  afterAll(async () => {
    await pool.end();
  });

  it('a backend terminated in the middle of a transaction: the retry commits once, on a fresh connection', async () => {
    await pool.query('TRUNCATE items');
    const pids: number[] = [];
    const failures: unknown[] = [];
    const result = await withRetry(
      (attempt) =>
        inTransaction(pool, async (client) => {
          const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          pids.push(rows[0]!.pid);
          await client.query(`INSERT INTO items VALUES (1, 'attempt ${attempt}')`);
          if (attempt === 1) await terminateBackends([rows[0]!.pid]);
          await client.query('SELECT 1');
          return attempt;
        }),
      { attempts: 3, baseMs: 10, onRetry: (error) => failures.push(error) },
    );
    expect(result).toBe(2);
    expect(failures).toHaveLength(1);
    expect(isRetryable(failures[0])).toBe(true);
    expect(pids[1]).not.toBe(pids[0]);
    expect((await pool.query('SELECT k, v FROM items')).rows).toEqual([{ k: 1, v: 'attempt 2' }]);
    // The broken connection was not handed out again: the pool still works.
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('two SERIALIZABLE transactions that read each other’s writes: one fails with 40001, and its retry commits', async () => {
    await pool.query('TRUNCATE items');
    await pool.query(`INSERT INTO items VALUES (1, 'seed'), (2, 'seed')`);
    const a = await pool.connect();
    const b = await pool.connect();
    try {
      // Write skew: each reads the other's key range and writes its own.
      await a.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await b.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await a.query('SELECT count(*) FROM items WHERE k = 2');
      await b.query('SELECT count(*) FROM items WHERE k = 1');
      await a.query(`INSERT INTO items VALUES (1, 'a')`);
      await b.query(`INSERT INTO items VALUES (2, 'b')`);
      await a.query('COMMIT');
      const error = await rejection(b.query('COMMIT'));
      expect(error.code).toBe('40001');
      expect(isRetryable(error)).toBe(true);
    } finally {
      await b.query('ROLLBACK').catch(() => {});
      a.release();
      b.release();
    }
    // The same transaction under withRetry: the first attempt collides with a concurrent one.
    let attempts = 0;
    await withRetry(
      () =>
        inTransaction(
          pool,
          async (client) => {
            attempts++;
            await client.query('SELECT count(*) FROM items WHERE k = 1');
            if (attempts === 1) {
              await inTransaction(
                pool,
                async (other) => {
                  await other.query('SELECT count(*) FROM items WHERE k = 2');
                  await other.query(`INSERT INTO items VALUES (1, 'other')`);
                },
                { isolation: 'serializable' },
              );
            }
            await client.query(`INSERT INTO items VALUES (2, 'retried')`);
          },
          { isolation: 'serializable' },
        ),
      { attempts: 3, baseMs: 10 },
    );
    expect(attempts).toBe(2);
    const { rows } = await pool.query(`SELECT v FROM items WHERE v IN ('retried', 'other') ORDER BY v`);
    expect(rows).toEqual([{ v: 'other' }, { v: 'retried' }]);
  });

  it('a statement_timeout is retryable; a constraint violation fails at once', async () => {
    const url = await freshDatabase('errors_timeout');
    const short = createPool(parsePostgresUrl(url, {}), { statementTimeoutMs: 50 });
    try {
      const timeout = await rejection(short.query('SELECT pg_sleep(2)'));
      expect(timeout.code).toBe('57014');
      expect(isRetryable(timeout)).toBe(true);
      await short.query('CREATE TABLE u (k integer PRIMARY KEY)');
      let calls = 0;
      const duplicate = await rejection(
        withRetry(
          () => {
            calls++;
            return short.query('INSERT INTO u VALUES (1), (1)');
          },
          { attempts: 5, baseMs: 10 },
        ),
      );
      expect(duplicate.code).toBe('23505');
      expect(calls).toBe(1);
    } finally {
      await short.end();
    }
  });

  it('gives up after the attempts, with the last error', async () => {
    let calls = 0;
    const error = await rejection(
      withRetry(
        async () => {
          calls++;
          throw Object.assign(new Error(`refused ${calls}`), { code: 'ECONNREFUSED' });
        },
        { attempts: 3, baseMs: 1 },
      ),
    );
    expect(calls).toBe(3);
    expect(error.message).toBe('refused 3');
  });
});
