import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

/**
 * The running cycle's progress as another process reads it (`status`, /metrics): a JSON document
 * replaced about once a second, tagged with the cycle and the lease owner that wrote it, so a
 * reader can tell it from a dead process's leftover (its owner no longer holds the lease).
 */
export interface ProgressRecord {
  cycleId: string;
  owner: string;
  progress: Record<string, unknown>;
}

/** The sync_state key that holds it on PostgreSQL. */
export const PROGRESS_KEY = 'cycle_progress';

export function parseProgress(text: string | null): ProgressRecord | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text) as Partial<ProgressRecord>;
    if (typeof value.cycleId !== 'string' || typeof value.owner !== 'string') return null;
    if (typeof value.progress !== 'object' || value.progress === null) return null;
    return value as ProgressRecord;
  } catch {
    return null;
  }
}

/**
 * SQLite: a file beside the store (`<store>.progress`), not a row. The users round keeps a write
 * transaction open for up to 10 s, and the application may hold the write lock: a row written
 * through the cycle's connection would be seen only at the next commit, and one written through
 * another would wait. The file is replaced whole (write, then rename), so a reader never sees half
 * of it; it takes the store file's mode (shared with the application's group or not, like the store).
 */
export class ProgressFile {
  readonly path: string;
  private mode: number | null = null;

  constructor(private readonly storePath: string) {
    this.path = `${storePath}.progress`;
  }

  write(record: ProgressRecord): void {
    this.mode ??= statSync(this.storePath).mode & 0o777;
    const next = `${this.path}.${process.pid}`;
    writeFileSync(next, JSON.stringify(record), { mode: 0o600 });
    chmodSync(next, this.mode);
    renameSync(next, this.path);
  }

  read(): ProgressRecord | null {
    try {
      return parseProgress(readFileSync(this.path, 'utf8'));
    } catch {
      return null;
    }
  }

  /** Removes the record of `cycleId` (another cycle's is left alone). */
  clear(cycleId: string): void {
    if (this.read()?.cycleId === cycleId) rmSync(this.path, { force: true });
  }

  /** Removes `owner`'s record (its cycle was cut short at shutdown). */
  clearOwnedBy(owner: string): void {
    if (this.read()?.owner === owner) rmSync(this.path, { force: true });
  }
}
