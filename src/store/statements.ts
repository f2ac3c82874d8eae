import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

/** More distinct statement texts than the store has (dynamic audit filters included). */
const MAX_HELD = 512;
const held = new WeakMap<Db, Map<string, Statement>>();

/**
 * A statement prepared once per connection and held for the connection's life. Besides saving the
 * compile, it keeps statements away from the garbage collector: on Node 24.19-24.21 a statement that
 * the collector finalizes inside a native callback aborts the process (nodejs/node#65446). The guard
 * in runtime-guard.ts refuses those runtimes; this is defence in depth.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own default parameter type
export function prepared<P extends unknown[] | object = any[], R = unknown>(
  db: Db,
  sql: string,
): Statement<P, R> {
  let byText = held.get(db);
  if (!byText) {
    byText = new Map();
    held.set(db, byText);
  }
  let statement = byText.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    if (byText.size >= MAX_HELD) byText.delete(byText.keys().next().value!);
    byText.set(sql, statement);
  }
  return statement as Statement<P, R>;
}
