import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenOptions {
  readonly?: boolean;
  /** How long a statement waits for a lock held by another connection (the application, a CLI). */
  busyTimeoutMs?: number;
}

/** Opens the store with WAL (the application reads while a cycle writes) and migrates it. */
export function openStore(path: string, options: OpenOptions = {}): Db {
  if (!options.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
  });
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 30_000}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Temporary tables hold a cycle's assignment listing, written once and read at most once: 8 MiB
    // of cache, spilling to a temporary file beyond it (130 MB of listing at a million assignments).
    db.pragma('temp.cache_size = -8192');
    // 32 MiB of page cache (the default is 2 MiB): a batch of changes touches index pages all over.
    db.pragma('cache_size = -32768');
    migrate(db);
  }
  return db;
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: Db): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the store has schema version ${current}, newer than this entrasync (${MIGRATIONS.length})`,
    );
  }
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version - 1]!);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
}
