import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
  if (!options.readonly && path !== ':memory:') createPrivately(path);
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    fileMustExist: options.readonly ?? false,
  });
  const busyTimeoutMs = options.busyTimeoutMs ?? 30_000;
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  if (!options.readonly) {
    enableWal(db, busyTimeoutMs);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Temporary tables hold a cycle's assignment listing, written once and read at most once: 8 MiB
    // of cache, spilling to a temporary file beyond it (130 MB of listing at a million assignments).
    db.pragma('temp.cache_size = -8192');
    fitPageCache(db);
    migrate(db);
  } else {
    checkReadable(db, path);
  }
  return db;
}

/**
 * Switching to WAL needs the database to itself, and SQLite answers SQLITE_BUSY at once, without its
 * busy handler, while another connection is opening the same new store (two processes starting
 * together): retried here, briefly, at start-up.
 */
function enableWal(db: Db, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 40);
    }
  }
}

/** Read-only, the store cannot migrate itself: a store of another version is an error, not a crash. */
function checkReadable(db: Db, path: string): void {
  const version = schemaVersion(db);
  if (version === MIGRATIONS.length) return;
  db.close();
  throw new Error(
    version === 0
      ? `${path} holds no store yet: a sync creates it`
      : `the store at ${path} has schema version ${version}, this entrasync reads version ${MIGRATIONS.length}: ` +
          (version < MIGRATIONS.length ? 'a sync migrates it' : 'update entrasync'),
  );
}

/**
 * The store holds the Graph mirror and the audit: a folder entrasync creates is 0700 and a database
 * file it creates is 0600; SQLite gives the -wal and -shm files the database file's mode. An existing
 * folder or file keeps its mode: it may be shared with the application's group on purpose.
 */
function createPrivately(path: string): void {
  const folder = dirname(path);
  if (!existsSync(folder)) mkdirSync(folder, { recursive: true, mode: 0o700 });
  try {
    // An empty file is an empty database to SQLite; 'wx' leaves a file that exists alone.
    writeFileSync(path, '', { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

const MIB = 1024;
const cacheKib = new WeakMap<Db, number>();

/**
 * Sizes the page cache to the store: an eighth of it, between 32 MiB (the default is 2 MiB; a batch
 * of changes touches index pages all over) and 128 MiB. A batch writes at random keys in several
 * indexes, and at a million users the store is 1.4 GB: a cache that holds more of the indexes saves
 * reading and spilling pages. Called again as the store grows during a round.
 */
export function fitPageCache(db: Db): void {
  const bytes =
    (db.pragma('page_count', { simple: true }) as number) *
    (db.pragma('page_size', { simple: true }) as number);
  const kib = Math.min(128 * MIB, Math.max(32 * MIB, Math.round(bytes / 8 / 1024)));
  if (cacheKib.get(db) === kib) return;
  db.pragma(`cache_size = -${kib}`);
  cacheKib.set(db, kib);
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the schema up to date in one write transaction that takes the lock first (BEGIN IMMEDIATE)
 * and reads the version again inside it: processes that open a new store at the same moment
 * (a daemon and a command, two replicas) migrate it once; the others wait and find it done.
 */
function migrate(db: Db): void {
  if (schemaVersion(db) === MIGRATIONS.length) return;
  db.transaction(() => {
    const current = schemaVersion(db);
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the store has schema version ${current}, newer than this entrasync (${MIGRATIONS.length})`,
      );
    }
    for (let version = current + 1; version <= MIGRATIONS.length; version++) {
      db.exec(MIGRATIONS[version - 1]!);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
