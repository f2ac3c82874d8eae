/** The cycle lease under a busy application and a takeover: renewed as soon as the lock frees, loss noticed. */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { tempDir } from '../support/harness.js';

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const expiresAt = (db: Database.Database) =>
  (db.prepare(`SELECT expires_at FROM locks WHERE name = 'cycle'`).get() as { expires_at: number })
    .expires_at;

describe('cycle lease renewal', () => {
  it("a renewal that meets the application's write lock is retried within a second of its release", async () => {
    const path = join(tempDir(), 'store.db');
    const store = Store.open(path);
    const lease = store.cycleLease('host pid 1 renewal test', 9000); // renewed every 3 s
    await lease.acquire(() => undefined);
    const app = new Database(path);
    app.exec('BEGIN IMMEDIATE');
    await delay(3500); // the renewal at 3 s meets the lock
    const before = expiresAt(app);
    app.exec('COMMIT');
    const released = Date.now();
    await delay(1300);
    const after = expiresAt(app);
    expect(after).toBeGreaterThan(before);
    expect(after).toBeGreaterThan(released + 9000 - 1000);
    expect(lease.lost).toBe(false);
    await lease.release();
    app.close();
    store.close();
  });

  it('a lease taken over by another owner is marked lost at the next renewal', async () => {
    const path = join(tempDir(), 'store.db');
    const store = Store.open(path);
    const lease = store.cycleLease('host pid 1 takeover test', 1500);
    await lease.acquire(() => undefined);
    const other = new Database(path);
    other
      .prepare(`UPDATE locks SET owner = 'other-host pid 2 cycle', expires_at = ? WHERE name = 'cycle'`)
      .run(Date.now() + 60_000);
    await delay(1300);
    expect(lease.lost).toBe(true);
    other.close();
    store.close();
  });
});
