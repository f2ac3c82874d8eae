import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { openStore } from '../../../src/store/db.js';
import { createPool, parsePostgresUrl } from '../../../src/store/postgres/connection.js';
import { migrate, SchemaTooNewError, schemaVersion } from '../../../src/store/postgres/migrate.js';
import { nocase, PG_SCHEMA_VERSION, PG_TABLES } from '../../../src/store/postgres/schema.js';
import { adminQuery, freshDatabase } from '../../support/postgres.js';

const pools: pg.Pool[] = [];
function poolFor(url: string, env: Record<string, string> = {}) {
  const settings = parsePostgresUrl(url, env);
  const pool = createPool(settings);
  pools.push(pool);
  return { pool, schema: settings.schema };
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

async function columnsOf(pool: pg.Pool, schema: string, table: string) {
  const { rows } = await pool.query<{ name: string; notnull: boolean }>(
    `SELECT column_name AS name, is_nullable = 'NO' AS notnull FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  return rows;
}

describe('migrate', () => {
  let url: string;
  let pool: pg.Pool;

  beforeAll(async () => {
    url = await freshDatabase('schema');
    pool = poolFor(url).pool;
  });

  it('creates, in schema entrasync, the tables and columns of the SQLite store', async () => {
    expect(await schemaVersion(pool, 'entrasync')).toBe(0);
    expect(await migrate(pool, 'entrasync')).toEqual({ from: 0, to: PG_SCHEMA_VERSION });
    expect(await schemaVersion(pool, 'entrasync')).toBe(PG_SCHEMA_VERSION);

    const sqlite = openStore(':memory:');
    try {
      const sqliteTables = (
        sqlite
          .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
          .all() as {
          name: string;
        }[]
      ).map((t) => t.name);
      expect([...PG_TABLES].sort()).toEqual(sqliteTables.sort());
      const { rows: pgTables } = await pool.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'entrasync'`,
      );
      expect(pgTables.map((t) => t.name).sort()).toEqual([...PG_TABLES, 'schema_version'].sort());

      for (const table of PG_TABLES) {
        const expected = (
          sqlite.prepare(`SELECT name, "notnull" FROM pragma_table_info(?)`).all(table) as {
            name: string;
            notnull: number;
          }[]
        ).map((c) => ({ name: c.name, notnull: c.notnull === 1 || c.name === 'seq' }));
        // The fencing token is PostgreSQL's addition to the lease row.
        if (table === 'locks') expected.push({ name: 'token', notnull: true });
        expect(await columnsOf(pool, 'entrasync', table), table).toEqual(expected);
      }
    } finally {
      sqlite.close();
    }
  });

  it('gives a row the application inserts with only user_name the same defaults as SQLite', async () => {
    await migrate(pool, 'entrasync');
    const { rows } = await pool.query(
      `INSERT INTO entrasync.users (user_name) VALUES ('local.user') RETURNING *`,
    );
    const row = rows[0];
    expect(row.id).toMatch(/^[0-9a-f]{32}$/);
    expect(row).toMatchObject({
      external_id: null,
      active: 1,
      scim: '{}',
      linkable: null,
      display_name: null,
    });
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(row.created_at) - Date.now())).toBeLessThan(60_000);
    expect(row.updated_at).toBe(row.created_at);
    // The application's plain query reads the same on both stores.
    expect((await pool.query(`SELECT user_name FROM entrasync.users WHERE active = 1`)).rows).toEqual([
      { user_name: 'local.user' },
    ]);
    const other = await pool.query(`INSERT INTO entrasync.users (user_name) VALUES ('other') RETURNING id`);
    expect(other.rows[0].id).not.toBe(row.id);
    await expect(
      pool.query(`INSERT INTO entrasync.users (user_name, linkable) VALUES ('x', 2)`),
    ).rejects.toMatchObject({
      code: '23514',
    });
  });

  it('keeps user_name unique with SQLite’s NOCASE rule: A/a are one name, Ä/ä two', async () => {
    await migrate(pool, 'entrasync');
    // This server's lower() folds beyond ASCII, as most production servers' do: an index on
    // lower(user_name) would make Ä and ä one name, where SQLite keeps two.
    expect((await pool.query(`SELECT lower('Ä') AS l`)).rows[0].l).toBe('ä');

    const names = [
      'Anna',
      'anna',
      'ANNA',
      'Ärger',
      'ärger',
      'ÄRGER',
      'Straße',
      'STRASSE',
      'İnci',
      'inci',
      'ǅemal',
      'ǆemal',
    ];
    const sqlite = openStore(':memory:');
    const outcome = { sqlite: [] as string[], postgres: [] as string[] };
    try {
      for (const name of names) {
        try {
          sqlite.prepare('INSERT INTO users (user_name) VALUES (?)').run(name);
          outcome.sqlite.push(name);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('SQLITE_CONSTRAINT_UNIQUE');
        }
        try {
          await pool.query('INSERT INTO entrasync.users (user_name) VALUES ($1)', [name]);
          outcome.postgres.push(name);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('23505');
        }
      }
    } finally {
      sqlite.close();
    }
    expect(outcome.sqlite).toEqual([
      'Anna',
      'Ärger',
      'ärger',
      'Straße',
      'STRASSE',
      'İnci',
      'inci',
      'ǅemal',
      'ǆemal',
    ]);
    expect(outcome.postgres).toEqual(outcome.sqlite);

    // The lookup by the same expression finds the row through the unique index.
    const { rows } = await pool.query(
      `SELECT user_name FROM entrasync.users WHERE ${nocase('user_name')} = ${nocase('$1')}`,
      ['aNNa'],
    );
    expect(rows).toEqual([{ user_name: 'Anna' }]);
    await pool.query('SET enable_seqscan = off');
    const plan = await pool.query(
      `EXPLAIN SELECT user_name FROM entrasync.users WHERE ${nocase('user_name')} = ${nocase(`'aNNa'`)}`,
    );
    expect(JSON.stringify(plan.rows)).toMatch(/users_user_name/);
    await pool.query('RESET enable_seqscan');
  });

  it('does nothing the second time', async () => {
    await migrate(pool, 'entrasync');
    expect(await migrate(pool, 'entrasync')).toEqual({ from: PG_SCHEMA_VERSION, to: PG_SCHEMA_VERSION });
  });

  it('puts everything in the schema ENTRASYNC_DB_SCHEMA names, and nothing elsewhere', async () => {
    const url2 = await freshDatabase('schema_named');
    const { pool: p, schema } = poolFor(url2, { ENTRASYNC_DB_SCHEMA: 'app_sync' });
    expect(schema).toBe('app_sync');
    await migrate(p, schema);
    const { rows } = await p.query<{ schema: string; n: number }>(
      `SELECT table_schema AS schema, count(*)::int AS n FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema') GROUP BY 1`,
    );
    expect(rows).toEqual([{ schema: 'app_sync', n: PG_TABLES.length + 1 }]);
  });
});

describe('several replicas starting at once', () => {
  it('5 concurrent migrate() calls on their own connections: one migrates, all succeed, one schema', async () => {
    const url = await freshDatabase('schema_race');
    const replicas = Array.from({ length: 5 }, () => poolFor(url).pool);
    const results = await Promise.all(replicas.map((p) => migrate(p, 'entrasync')));
    expect(results.filter((r) => r.from === 0)).toHaveLength(1);
    expect(results.every((r) => r.to === PG_SCHEMA_VERSION)).toBe(true);
    const { rows } = await replicas[0]!.query(`SELECT version FROM entrasync.schema_version`);
    expect(rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
    const tables = await replicas[0]!.query(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'entrasync'`,
    );
    expect(tables.rows[0].n).toBe(PG_TABLES.length + 1);
  });
});

describe('a schema of a newer version', () => {
  it('is refused with a configuration error naming the schema and both versions, and left as it is', async () => {
    const url = await freshDatabase('schema_newer');
    const { pool } = poolFor(url);
    await migrate(pool, 'entrasync');
    await pool.query(`UPDATE entrasync.schema_version SET version = $1`, [PG_SCHEMA_VERSION + 1]);
    const error = await migrate(pool, 'entrasync').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `ENTRASYNC_DB_SCHEMA: schema "entrasync" has version ${PG_SCHEMA_VERSION + 1}; ` +
        `this entrasync knows versions up to ${PG_SCHEMA_VERSION}: update entrasync`,
    );
    expect(await schemaVersion(pool, 'entrasync')).toBe(PG_SCHEMA_VERSION + 1);
  });
});

describe('a role without CREATE on the database', () => {
  it('migrates into a schema an administrator made for it, and is refused one it would have to make', async () => {
    const url = await freshDatabase('schema_role');
    const database = new URL(url).pathname.slice(1);
    const role = `${database}_app`;
    await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD 'app-pass'`);
    await adminQuery(`GRANT CONNECT ON DATABASE ${database} TO ${role}`);
    await adminQuery(`CREATE SCHEMA entrasync`, [], database);
    await adminQuery(`GRANT USAGE, CREATE ON SCHEMA entrasync TO ${role}`, [], database);
    const roleUrl = new URL(url);
    roleUrl.username = role;
    roleUrl.password = 'app-pass';

    const { pool } = poolFor(roleUrl.toString());
    expect(await migrate(pool, 'entrasync')).toEqual({ from: 0, to: PG_SCHEMA_VERSION });
    await pool.query(`INSERT INTO entrasync.users (user_name) VALUES ('x')`);

    const { pool: other } = poolFor(roleUrl.toString(), { ENTRASYNC_DB_SCHEMA: 'not_made' });
    await expect(migrate(other, 'not_made')).rejects.toMatchObject({ code: '42501' });
  });
});
