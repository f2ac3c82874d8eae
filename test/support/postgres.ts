/**
 * The test run's PostgreSQL server (started by test/setup/postgres.ts): a fresh database per test
 * file, and SQL as the server's admin (to inspect, or to cut a connection in a fault test).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The admin URL of the test run's server (database `postgres`). */
export function adminUrl(): string {
  const url = process.env.ENTRASYNC_TEST_PG_URL;
  if (!url)
    throw new Error(
      'ENTRASYNC_TEST_PG_URL is not set: run the tests through vitest (test/setup/postgres.ts)',
    );
  return url;
}

/** `url` pointing at another database of the same server. */
export function databaseUrl(database: string, url = adminUrl()): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs one statement as the admin, on a connection of its own. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  database = 'postgres',
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** A new, empty database (unique name, `name` as a readable prefix); returns its URL. */
export async function freshDatabase(name = 'test'): Promise<string> {
  const prefix = name
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  const database = `${prefix}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE "${database}"`);
  return databaseUrl(database);
}

/** Ends the server processes (backends) with these pids, as a crash or a cut network would. */
export async function terminateBackends(pids: number[]): Promise<void> {
  await adminQuery('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
}

/** The pids of entrasync's connections (application_name `entrasync`) to the database of `url`. */
export async function entrasyncBackends(url: string): Promise<number[]> {
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  const rows = await adminQuery<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'entrasync' AND pid <> pg_backend_pid()`,
    [database],
  );
  return rows.map((r) => r.pid);
}
