/**
 * A store for a test, of either kind, and the application's view of it: its `users` table read with
 * plain SQL, as the application would (README, "Reading the store").
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { StoreRow } from './harness.js';
import { freshDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];

export type UsersRow = StoreRow;

export interface TestStore {
  kind: StoreKind;
  /** ENTRASYNC_DB */
  db: string;
  /** Plain SQL on entrasync's tables, named `t.<table>`; `?` placeholders. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** The users table, by user_name. */
  users(): Promise<UsersRow[]>;
  close(): Promise<void>;
}

/** `sql` names entrasync's tables as `t.<table>`: the schema prefix on PostgreSQL, nothing on SQLite. */
export async function testStore(kind: StoreKind, dir: string): Promise<TestStore> {
  if (kind === 'sqlite') {
    const path = join(dir, 'store.db');
    const query = async <R>(sql: string, params: unknown[] = []) => {
      const db = new Database(path, { fileMustExist: true });
      try {
        const stmt = db.prepare(sql.replace(/\bt\./g, ''));
        return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as R[];
      } finally {
        db.close();
      }
    };
    return {
      kind,
      db: path,
      query,
      users: () => query<UsersRow>('SELECT * FROM t.users ORDER BY user_name'),
      close: async () => {},
    };
  }
  const url = await freshDatabase('e2e');
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const toPg = (sql: string) => {
    let n = 0;
    return sql.replace(/\bt\./g, 'entrasync.').replace(/\?/g, () => `$${++n}`);
  };
  const query = async <R>(sql: string, params: unknown[] = []) =>
    (await pool.query(toPg(sql), params)).rows as R[];
  return {
    kind,
    db: url,
    query,
    users: () => query<UsersRow>('SELECT * FROM t.users ORDER BY user_name'),
    close: () => pool.end(),
  };
}
