/**
 * A store for a test, of either kind, and the application's view of it: its `users` table read with
 * plain SQL, as the application would (README, "Reading the store").
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../../src/config/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import type { PlannedAction } from '../../src/plan/types.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { Store, type UserStore } from '../../src/store/index.js';
import { openUserStore } from '../../src/store/open.js';
import { runCycle, type CycleOptions, type CycleResult } from '../../src/sync/cycle.js';
import { emulatorEnv, memoryLogger, tempDir, writeSettings, type StoreRow } from './harness.js';
import { freshDatabase } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];

export type UsersRow = StoreRow;

/** A fresh, empty store of each kind, opened through the UserStore interface (store contract tests). */
export function storeFactories(name: string): { name: StoreKind; open(): Promise<UserStore> }[] {
  return [
    { name: 'sqlite', open: async () => Store.open(join(tempDir(`entrasync-${name}-`), 'store.db')) },
    { name: 'postgres', open: async () => openUserStore(await freshDatabase(name), { env: {} }) },
  ];
}

/** The retry spacing the store contract tests write failures with. */
export const RETRY_SPACING = { baseSeconds: 60, maxSeconds: 3600 };

/** A planned create of an assigned user (store contract tests). */
export const createAction = (
  entraId: string,
  userName: string,
  modified: Extract<PlannedAction, { kind: 'create' }>['modified'] = [],
): PlannedAction => ({
  kind: 'create',
  entraId,
  resource: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, active: true },
  modified,
  code: 'new-assignment',
  reason: 'in scope: assigned directly',
});

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

/** The in-process engine (createRuntime, runCycle) on a store of either kind, its rows read as the application would. */
export interface StoreHarness {
  kind: StoreKind;
  dir: string;
  env: Record<string, string>;
  rt: Runtime;
  store: TestStore;
  logs: () => Record<string, unknown>[];
  sync(options?: CycleOptions): Promise<CycleResult>;
  rows(): Promise<UsersRow[]>;
  row(userName: string): Promise<UsersRow | undefined>;
  close(): Promise<void>;
}

export async function storeHarness(
  emu: RunningEmulator,
  kind: StoreKind,
  options: {
    settings?: Record<string, unknown>;
    env?: Record<string, string>;
    /** A second runtime (other settings) on this harness's store; closing it leaves the store open. */
    sameStoreAs?: StoreHarness;
  } = {},
): Promise<StoreHarness> {
  const dir = tempDir();
  writeSettings(dir, options.settings);
  const store = options.sameStoreAs?.store ?? (await testStore(kind, dir));
  const env = emulatorEnv(emu, dir, { ENTRASYNC_DB: store.db, ...options.env });
  const { log, lines } = memoryLogger('info');
  const rt = await createRuntime(loadConfig(env), log);
  return {
    kind,
    dir,
    env,
    rt,
    store,
    logs: lines,
    sync: (o) => runCycle(rt, o),
    rows: () => store.users(),
    row: async (userName) => (await store.users()).find((r) => r.user_name === userName),
    close: async () => {
      await rt.close();
      if (!options.sameStoreAs) await store.close();
    },
  };
}
