/**
 * The store under bench: what `npm run bench` reads from entrasync's store after each run, on
 * SQLite (a file per row) or on PostgreSQL (one embedded server per bench run, a database per row).
 * The bench itself is one code path; only these reads and the store's life differ.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { BASELINE, BASELINE_PG, ROOT, fileSizeMb, readStore, removeDb } from './lib.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface BenchStore {
  readonly kind: StoreKind;
  /** The bare baseline script for this store (it takes the store's `ENTRASYNC_DB`-like address). */
  readonly baseline: string;
  /** A fresh, empty store named `name`: its `ENTRASYNC_DB` value. */
  create(name: string): Promise<string>;
  remove(db: string): Promise<void>;
  /** Graph requests and duration of a cycle, from `cycles`. */
  cycle(db: string, id: string): Promise<{ requests: number; ms: number }>;
  deltaLink(db: string): Promise<string>;
  /** `n` provisioned users that are active and not soft-deleted, to be changed in Graph. */
  idsToChange(db: string, n: number): Promise<string[]>;
  /** `n` memberships of provisioned groups (Entra ids), one per group in turn, to be changed in Graph. */
  membershipsToChange(db: string, n: number): Promise<{ groupId: string; userId: string }[]>;
  /** Rows of `groups` and `group_members`. */
  groupCounts(db: string): Promise<{ groups: number; memberships: number }>;
  sizeMb(db: string): Promise<number>;
  close(): Promise<void>;
}

const DELTA_LINK = "SELECT value FROM sync_state WHERE key = 'users_delta_link'";
const TO_CHANGE = (limit: string) =>
  `SELECT u.external_id AS id FROM users u JOIN source_users s ON s.entra_id = u.external_id
   WHERE u.active = 1 AND s.soft_deleted = 0 ORDER BY u.external_id LIMIT ${limit}`;

/** One membership of each of the first `limit` groups (the lowest user id in each). */
const MEMBERSHIPS = (limit: string) =>
  `SELECT g.external_id AS "groupId", min(u.external_id) AS "userId"
   FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id
   WHERE g.external_id IS NOT NULL GROUP BY g.external_id ORDER BY g.external_id LIMIT ${limit}`;
const GROUP_COUNTS =
  'SELECT (SELECT count(*) FROM groups) AS groups, (SELECT count(*) FROM group_members) AS memberships';

/** SQLite: a file in the bench's work folder, read read-only after the process exited. */
export function sqliteStore(work: string): BenchStore {
  return {
    kind: 'sqlite',
    baseline: BASELINE,
    create: (name) => {
      const db = join(work, `${name}.db`);
      removeDb(db);
      return Promise.resolve(db);
    },
    remove: (db) => Promise.resolve(removeDb(db)),
    cycle: (db, id) =>
      Promise.resolve(
        readStore(
          db,
          (d) =>
            d
              .prepare(
                `SELECT graph_requests AS requests,
           round((julianday(ended_at) - julianday(started_at)) * 86400000) AS ms FROM cycles WHERE id = ?`,
              )
              .get(id) as { requests: number; ms: number },
        ),
      ),
    deltaLink: (db) =>
      Promise.resolve(readStore(db, (d) => (d.prepare(DELTA_LINK).get() as { value: string }).value)),
    idsToChange: (db, n) =>
      Promise.resolve(
        readStore(db, (d) => (d.prepare(TO_CHANGE('?')).all(n) as { id: string }[]).map((r) => r.id)),
      ),
    membershipsToChange: (db, n) =>
      Promise.resolve(
        readStore(db, (d) => d.prepare(MEMBERSHIPS('?')).all(n) as { groupId: string; userId: string }[]),
      ),
    groupCounts: (db) =>
      Promise.resolve(
        readStore(db, (d) => d.prepare(GROUP_COUNTS).get() as { groups: number; memberships: number }),
      ),
    sizeMb: (db) => Promise.resolve(fileSizeMb(db)),
    close: () => Promise.resolve(),
  };
}

/**
 * PostgreSQL: a throwaway server (scripts/embedded-postgres.mjs) with fsync on, as a production
 * server would run, for the whole bench run; a database per row, so that no row sees another's data.
 */
export async function postgresStore(): Promise<BenchStore> {
  const server = fork(join(ROOT, 'scripts/embedded-postgres.mjs'), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ENTRASYNC_PG_DURABLE: '1' },
  });
  const message = await new Promise<{ url?: string; error?: string }>((resolve, reject) => {
    server.once('message', (m) => resolve(m as { url?: string; error?: string }));
    server.once('exit', (code) => reject(new Error(`the embedded PostgreSQL exited with ${code}`)));
  });
  if (!message.url) throw new Error(message.error ?? 'the embedded PostgreSQL sent no address');
  const admin = message.url;
  const urlOf = (database: string) => {
    const url = new URL(admin);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const databaseOf = (db: string) => new URL(db).pathname.slice(1);

  /** One short connection per read: the bench reads a few rows after each run, nothing more. */
  async function query<T extends pg.QueryResultRow>(db: string, sql: string, params: unknown[] = []) {
    const client = new pg.Client({ connectionString: db, options: '-c search_path=entrasync' });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }
  const drop = (database: string) => query(admin, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);

  return {
    kind: 'postgres',
    baseline: BASELINE_PG,
    create: async (name) => {
      const database = `bench_${name.replace(/\W/g, '_')}`;
      await drop(database);
      await query(admin, `CREATE DATABASE "${database}"`);
      return urlOf(database);
    },
    remove: async (db) => void (await drop(databaseOf(db))),
    cycle: async (db, id) => {
      const [row] = await query<{ requests: number; started_at: string; ended_at: string }>(
        db,
        'SELECT graph_requests AS requests, started_at, ended_at FROM cycles WHERE id = $1',
        [id],
      );
      if (!row) throw new Error(`no cycle ${id} in the store`);
      return { requests: row.requests, ms: Date.parse(row.ended_at) - Date.parse(row.started_at) };
    },
    deltaLink: async (db) => (await query<{ value: string }>(db, DELTA_LINK))[0]!.value,
    idsToChange: async (db, n) => (await query<{ id: string }>(db, TO_CHANGE('$1'), [n])).map((r) => r.id),
    membershipsToChange: (db, n) => query<{ groupId: string; userId: string }>(db, MEMBERSHIPS('$1'), [n]),
    groupCounts: async (db) => {
      const [row] = await query<{ groups: string; memberships: string }>(db, GROUP_COUNTS);
      return { groups: Number(row!.groups), memberships: Number(row!.memberships) };
    },
    sizeMb: async (db) => {
      const [row] = await query<{ bytes: string }>(
        db,
        'SELECT pg_database_size(current_database()) AS bytes',
      );
      return Math.round((Number(row!.bytes) / 1024 / 1024) * 10) / 10;
    },
    close: async () => {
      if (server.exitCode !== null) return;
      const exited = new Promise((r) => server.once('exit', r));
      server.send('shutdown');
      await exited;
    },
  };
}
