import type { Db } from './db.js';
import { prepared } from './statements.js';

export type CycleKind = 'initial' | 'incremental' | 'forced' | 'on-demand';
/** Which cycles a listing holds: the job's (scheduled or run by `sync`), on-demand runs, or both. */
export type CycleSet = 'job' | 'on-demand' | 'all';
/** SQL condition per CycleSet (same on both stores). */
export const CYCLE_SET_SQL: Record<CycleSet, string> = {
  job: "kind <> 'on-demand'",
  'on-demand': "kind = 'on-demand'",
  all: '1 = 1',
};
export type CycleStatus = 'running' | 'succeeded' | 'failed' | 'aborted';
/** Of a failed cycle: whether an operator must act (persistent) or a later attempt may succeed (transient). */
export type FailureClass = 'persistent' | 'transient';

export interface CycleRecord {
  id: string;
  kind: CycleKind;
  dryRun: boolean;
  startedAt: string;
  endedAt: string | null;
  status: CycleStatus;
  counts: Record<string, number>;
  graphRequests: number;
  error: string | null;
  /** Failed cycles only; null for other cycles and for failures recorded before it was kept. */
  failureClass: FailureClass | null;
}

export interface CycleRow {
  id: string;
  kind: CycleKind;
  dry_run: number;
  started_at: string;
  ended_at: string | null;
  status: CycleStatus;
  counts: string;
  graph_requests: number;
  error: string | null;
  failure_class: FailureClass | null;
}

export const toRecord = (r: CycleRow): CycleRecord => ({
  id: r.id,
  kind: r.kind,
  dryRun: r.dry_run === 1,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  status: r.status,
  counts: JSON.parse(r.counts) as Record<string, number>,
  graphRequests: r.graph_requests,
  error: r.error,
  failureClass: r.failure_class,
});

export class CycleLog {
  constructor(private readonly db: Db) {}

  start(id: string, kind: CycleKind, dryRun: boolean): void {
    prepared(
      this.db,
      `INSERT INTO cycles (id, kind, dry_run, started_at, status) VALUES (?, ?, ?, ?, 'running')`,
    ).run(id, kind, dryRun ? 1 : 0, new Date().toISOString());
  }

  setKind(id: string, kind: CycleKind): void {
    prepared(this.db, 'UPDATE cycles SET kind = ? WHERE id = ?').run(kind, id);
  }

  finish(
    id: string,
    status: CycleStatus,
    counts: Record<string, number>,
    graphRequests: number,
    error?: string,
    failureClass?: FailureClass,
  ) {
    prepared(
      this.db,
      'UPDATE cycles SET ended_at = ?, status = ?, counts = ?, graph_requests = ?, error = ?, failure_class = ? WHERE id = ?',
    ).run(
      new Date().toISOString(),
      status,
      JSON.stringify(counts),
      graphRequests,
      error ?? null,
      failureClass ?? null,
      id,
    );
  }

  /** Cycles left 'running' by a process that died; called while holding the cycle lease. */
  markAbandoned(): number {
    return prepared(
      this.db,
      `UPDATE cycles SET status = 'aborted', ended_at = ?, error = 'the process ended during the cycle' WHERE status = 'running'`,
    ).run(new Date().toISOString()).changes;
  }

  recent(limit: number, which: CycleSet = 'all'): CycleRecord[] {
    return (
      prepared(
        this.db,
        `SELECT * FROM cycles WHERE ${CYCLE_SET_SQL[which]} ORDER BY started_at DESC, rowid DESC LIMIT ?`,
      ).all(limit) as CycleRow[]
    ).map(toRecord);
  }

  lastSucceeded(): CycleRecord | null {
    const row = prepared(
      this.db,
      `SELECT * FROM cycles WHERE status = 'succeeded' AND dry_run = 0 AND ${CYCLE_SET_SQL.job} ORDER BY started_at DESC, rowid DESC LIMIT 1`,
    ).get() as CycleRow | undefined;
    return row ? toRecord(row) : null;
  }

  get(id: string): CycleRecord | null {
    const row = prepared(this.db, 'SELECT * FROM cycles WHERE id = ?').get(id) as CycleRow | undefined;
    return row ? toRecord(row) : null;
  }
}
