/** One transaction on a connection of its own from the pool, rolled back on any failure. */
import type pg from 'pg';

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  isolation?: Isolation;
}

/**
 * Runs `fn` between BEGIN and COMMIT on one pooled connection. A failure rolls back; a connection
 * that broke (the server restarted, the backend was terminated, the network dropped) is destroyed
 * rather than returned to the pool, so a retry gets a working one.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out connection has no listener of the pool's: a connection lost between two
  // statements would otherwise be an uncaught 'error' event, ending the process.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query(`BEGIN ISOLATION LEVEL ${(options.isolation ?? 'read committed').toUpperCase()}`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    if (!broken) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
    }
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken ?? false);
  }
}
