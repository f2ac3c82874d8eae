// The least SQLite work of an initial sync, without Graph: N synthetic users inserted in one
// transaction, one prepared statement per row, into
//   baseline  the bare baseline's table (id, JSON), as `npm run bench` times it;
//   users     entrasync's `users` table alone (what the application reads: unique userName and
//             externalId, an email index);
//   store     `users` plus the mirror row (`source_users`) and the audit row of each create.
// Each is a fresh file in WAL mode with synchronous = NORMAL, as in the store. Needs `npm run build`
// (the schema comes from dist/store/migrations.js). Usage: node bench/store-floor.mjs [users] [runs]
/* global performance */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../dist/store/migrations.js';

const users = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'entrasync-floor-'));

// Graph-like users: random object ids, names unrelated to them (as in a real tenant).
const items = Array.from({ length: users }, () => {
  const id = randomUUID();
  const upn = `u${randomUUID().slice(0, 13)}@contoso.com`;
  return { id, userPrincipalName: upn, mail: upn, displayName: `User ${upn}`, accountEnabled: true };
});

function run(kind) {
  const file = join(dir, `${kind}.db`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  for (const sql of MIGRATIONS) db.exec(sql);
  db.exec('CREATE TABLE base (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL) WITHOUT ROWID');
  const base = db.prepare('INSERT OR REPLACE INTO base (id, data) VALUES (?, ?)');
  const user = db.prepare(
    `INSERT INTO users (id, external_id, user_name, display_name, email, active, scim, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)`,
  );
  const mirror = db.prepare('INSERT INTO source_users (entra_id, attributes) VALUES (?, ?)');
  const audit = db.prepare(
    `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_id, user_name, modified)
     VALUES (?, ?, 'create', 'success', ?, ?, ?, ?)`,
  );
  const cycle = randomUUID();
  const started = performance.now();
  db.exec('BEGIN');
  let n = 0;
  for (const it of items) {
    if (kind === 'baseline') {
      base.run(it.id, JSON.stringify(it));
      continue;
    }
    const at = new Date().toISOString();
    // Time-ordered row ids, as entrasync's UUIDv7.
    const rowId = `${Date.now().toString(16).padStart(12, '0')}-${(n++).toString(16).padStart(12, '0')}`;
    const scim = { userName: it.userPrincipalName, displayName: it.displayName, active: true };
    user.run(rowId, it.id, it.userPrincipalName, it.displayName, it.mail, JSON.stringify(scim), at, at);
    if (kind === 'users') continue;
    mirror.run(it.id, JSON.stringify(it));
    const modified = [{ target: 'userName', new: it.userPrincipalName }];
    audit.run(cycle, at, it.id, rowId, it.userPrincipalName, JSON.stringify(modified));
  }
  db.exec('COMMIT');
  const ms = performance.now() - started;
  db.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const kind of ['baseline', 'users', 'store']) {
  results[kind] = median(Array.from({ length: runs }, () => run(kind)));
}
rmSync(dir, { recursive: true, force: true });
for (const [kind, ms] of Object.entries(results)) {
  const ratio = (ms / results.baseline).toFixed(2);
  process.stdout.write(`${kind.padEnd(9)} ${(ms / 1000).toFixed(2)} s  ${ratio}x the baseline's inserts\n`);
}
