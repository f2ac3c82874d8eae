import { existsSync, statSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import type { UserStore } from './interface.js';
import { Store } from './index.js';
import { isPostgresUrl, parsePostgresUrl, redactUrl } from './postgres/connection.js';
import { schemaVersion, SchemaTooNewError } from './postgres/migrate.js';
import { PG_SCHEMA_VERSION } from './postgres/schema.js';
import { PostgresStore } from './postgres/store.js';

export interface OpenStoreOptions {
  /** Open for reading only: nothing is created or migrated. */
  readonly?: boolean;
  /** A store that does not exist yet is an error naming ENTRASYNC_DB (the commands on a store alone). */
  mustExist?: boolean;
  /** A store that does not exist yet is replaced by an empty one in memory (dry runs create nothing). */
  memoryIfMissing?: boolean;
  busyTimeoutMs?: number;
  statementTimeoutMs?: number;
  env?: Record<string, string | undefined>;
}

/** `where`: a SQLite file path, or a postgres:// URL (ENTRASYNC_DB). */
export async function openUserStore(where: string, options: OpenStoreOptions = {}): Promise<UserStore> {
  const env = options.env ?? process.env;
  if (!isPostgresUrl(where)) {
    if (!existsSync(where)) {
      if (options.mustExist) throw noStore(where);
      if (options.memoryIfMissing) return Store.open(':memory:');
    }
    try {
      return Store.open(where, { readonly: options.readonly, busyTimeoutMs: options.busyTimeoutMs });
    } catch (error) {
      throw cannotOpen(where, error) ?? error;
    }
  }
  const settings = parsePostgresUrl(where, env);
  if (options.readonly || options.mustExist || options.memoryIfMissing) {
    const store = await PostgresStore.open(where, env, { readonly: true });
    const version = await schemaVersion(store.pool, settings.schema);
    if (version > PG_SCHEMA_VERSION) {
      await store.close();
      throw new SchemaTooNewError(settings.schema, version);
    }
    if (version === 0) {
      await store.close();
      if (options.memoryIfMissing) return Store.open(':memory:');
      if (options.mustExist || options.readonly)
        throw noStore(`${redactUrl(where)} (schema ${settings.schema})`);
    }
    if (options.readonly || version === PG_SCHEMA_VERSION) return store;
    await store.close();
  }
  return PostgresStore.open(where, env, { statementTimeoutMs: options.statementTimeoutMs });
}

const noStore = (where: string) =>
  new ConfigError('ENTRASYNC_DB', `no store at ${where} (check the path; \`entrasync sync\` creates it)`);

/** Failures that are about the path itself (the folder, the permissions, the file), not the data. */
const PATH_ERRORS =
  /^(SQLITE_CANTOPEN|SQLITE_IOERR|SQLITE_NOTADB|SQLITE_PERM|SQLITE_READONLY|ENOTDIR|EACCES|EPERM|EISDIR|EROFS|ENOENT|ELOOP|ENAMETOOLONG)/;

/** A SQLite path that cannot be opened is a setting to fix: name it and the path, not a stack trace. */
function cannotOpen(where: string, error: unknown): ConfigError | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !PATH_ERRORS.test(code)) return undefined;
  let reason = `${(error as Error).message} (${code})`;
  try {
    if (statSync(where).isDirectory()) reason = 'it is a folder; ENTRASYNC_DB names the store file';
  } catch {
    // Nothing at the path (or no access to it): the error itself says why.
  }
  return new ConfigError('ENTRASYNC_DB', `cannot open the store at ${where}: ${reason}`);
}
