/**
 * Schema migrations at start-up. Replicas starting at the same moment all call migrate(): a
 * transaction-scoped advisory lock on the schema's name lets one migrate while the others wait,
 * then find the schema current and do nothing. A schema newer than this entrasync is refused.
 */
import type pg from 'pg';
import { ConfigError } from '../../config/errors.js';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './schema.js';
import { inTransaction } from './transaction.js';

/** The advisory lock's first key ("entr"); the second is the schema name's hash. */
const MIGRATION_LOCK_CLASS = 0x656e7472;

/** The schema was migrated by a newer entrasync: this one must not read or write it. */
export class SchemaTooNewError extends ConfigError {
  constructor(schema: string, version: number) {
    super(
      'ENTRASYNC_DB_SCHEMA',
      `schema "${schema}" has version ${version}; this entrasync knows versions up to ${PG_SCHEMA_VERSION}: update entrasync`,
    );
    this.name = 'SchemaTooNewError';
  }
}

type Queryable = Pick<pg.ClientBase, 'query'>;

/** The schema's version: 0 when the schema or its version table does not exist yet. */
export async function schemaVersion(db: Queryable, schema: string): Promise<number> {
  const { rows } = await db.query<{ table: string | null }>('SELECT to_regclass($1)::text AS table', [
    `"${schema}".schema_version`,
  ]);
  if (!rows[0]?.table) return 0;
  const version = await db.query<{ version: number }>(`SELECT version FROM "${schema}".schema_version`);
  return version.rows[0]?.version ?? 0;
}

/** Brings `schema` to this entrasync's version; returns the versions before and after. */
export async function migrate(pool: pg.Pool, schema: string): Promise<{ from: number; to: number }> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]);
    const from = await schemaVersion(client, schema);
    if (from > PG_SCHEMA_VERSION) throw new SchemaTooNewError(schema, from);
    if (from === PG_SCHEMA_VERSION) return { from, to: from };
    if (from === 0) {
      // CREATE SCHEMA IF NOT EXISTS would still need CREATE on the database: a role given only a
      // schema an administrator made beforehand must not need it.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
      await client.query(
        `CREATE TABLE "${schema}".schema_version (
           one boolean PRIMARY KEY DEFAULT true CHECK (one),
           version integer NOT NULL
         )`,
      );
      await client.query(`INSERT INTO "${schema}".schema_version (version) VALUES (0)`);
    }
    for (let version = from + 1; version <= PG_SCHEMA_VERSION; version++) {
      await client.query(PG_MIGRATIONS[version - 1]!(schema));
    }
    await client.query(`UPDATE "${schema}".schema_version SET version = $1`, [PG_SCHEMA_VERSION]);
    return { from, to: PG_SCHEMA_VERSION };
  });
}
