/**
 * The PostgreSQL user store: UserStore over a small pool. Several daemons may share one schema:
 * the cycle lease (lease.ts) lets one cycle run at a time, and every write transaction of a lease
 * holder first checks that its fencing token still holds the lease, so a paused or cut-off former
 * leader writes nothing once another replica has taken over.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { groupHistory, toAuditEntry, type AuditRow } from '../audit.js';
import { CYCLE_SET_SQL, toRecord, type CycleRow } from '../cycles.js';
import type { CycleLease, PageStash, UserStore, WriteSpan } from '../interface.js';
import { holderIsDead, waitForLease, type LeaseHolder } from '../lock.js';
import { PageStash as SqlitePageStash } from '../page-stash.js';
import { failingUserName, namedUser, userHistory } from '../named-user.js';
import { UNUSABLE_DATA } from '../pending.js';
import { toChange, type StagedRow } from '../staged.js';
import { DELTA_STATE_KEYS, reportKey } from '../state.js';
import { parseProgress, PROGRESS_KEY } from '../progress.js';
import { toStoreUser, type UserRow } from '../users.js';
import { LockWaits } from '../write-wait.js';
import { appendAudit, applyBatch, knownUsers, linkCandidates } from './batch.js';
import { checkConnection, createPool, parsePostgresUrl, type PostgresSettings } from './connection.js';
import { withRetry } from './errors.js';
import { assertHeld, CYCLE_LEASE, PostgresLease } from './lease.js';
import { PostgresListing } from './listing.js';
import { migrate } from './migrate.js';
import { nocase } from './schema.js';
import * as groupOps from './groups.js';
import * as scopeOps from './scope-ops.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Reads outside a transaction, and the start of a write, are retried like Graph faults. */
const RETRY = { attempts: 5, baseMs: 250, capMs: 5000 };

export interface PostgresOpenOptions {
  statementTimeoutMs?: number;
  /** Read-only commands do not migrate; they refuse a schema that is missing or too new. */
  readonly?: boolean;
  onIdleError?: (error: Error) => void;
}

export class PostgresStore implements UserStore {
  readonly kind = 'postgres' as const;
  /** About ten statements per batch, whatever its size: round trips, not rows, are the cost. */
  readonly usersPerBatch = 2000;
  readonly lockWaits = new LockWaits();
  /** The connection of the write running in this async context (write()). */
  private readonly current = new AsyncLocalStorage<pg.PoolClient>();
  /** An open write span or dry run: every operation joins it, as on SQLite's one connection. */
  private span: { client: pg.PoolClient; release: (broken?: Error) => void } | null = null;
  /** The fencing token of the cycle lease this process holds; null when it holds none. */
  fencingToken: number | null = null;
  /** Who holds that token: another handle of the same owner (a tick, then its cycle) takes it over. */
  fencingOwner: string | null = null;
  private scratch: Database.Database | null = null;
  private cycleListing: PostgresListing | null = null;
  readonly s: string;

  private constructor(
    readonly pool: pg.Pool,
    readonly settings: PostgresSettings,
  ) {
    this.s = settings.schema;
  }

  static async open(
    url: string,
    env: Record<string, string | undefined>,
    options: PostgresOpenOptions = {},
  ): Promise<PostgresStore> {
    const settings = parsePostgresUrl(url, env);
    const pool = createPool(settings, {
      statementTimeoutMs: options.statementTimeoutMs,
      onIdleError: options.onIdleError,
    });
    try {
      await withRetry(() => checkConnection(pool, settings), RETRY);
      if (!options.readonly) await withRetry(() => migrate(pool, settings.schema), RETRY);
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(pool, settings);
  }

  private get db(): Queryable {
    return this.current.getStore() ?? this.span?.client ?? this.pool;
  }

  /** A read: in the open transaction if there is one, else on the pool, retried. */
  private async rows<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const db = this.db;
    if (db !== this.pool) return (await db.query<R>(sql, params)).rows;
    return withRetry(async () => (await this.pool.query<R>(sql, params)).rows, RETRY);
  }

  /** Reads of several statements or helpers: retried like rows() when on the pool. */
  private async read<T>(fn: (db: Queryable) => Promise<T>): Promise<T> {
    const db = this.db;
    if (db !== this.pool) return fn(db);
    return withRetry(() => fn(this.pool), RETRY);
  }

  private async exec(sql: string, params: unknown[] = []): Promise<number> {
    return (await this.db.query(sql, params)).rowCount ?? 0;
  }

  // ── The users pipeline ──
  knownUsers(ids: readonly string[], options: { appRoles: boolean }) {
    return knownUsers(this.db, this.s, ids, options.appRoles);
  }
  linkCandidates(keys: Parameters<UserStore['linkCandidates']>[0]) {
    return linkCandidates(this.db, this.s, keys);
  }
  applyBatch(batch: Parameters<UserStore['applyBatch']>[0]) {
    return this.write(() => applyBatch(this.db, this.s, batch), 'users batch');
  }

  readonly users: UserStore['users'] = {
    get: async (id) =>
      first(await this.rows<UserRow>(`SELECT * FROM "${this.s}".users WHERE id = $1`, [id]), toStoreUser),
    findByUserName: async (userName) =>
      first(
        await this.rows<UserRow>(
          `SELECT * FROM "${this.s}".users WHERE ${nocase('user_name')} = ${nocase('$1')}`,
          [userName],
        ),
        toStoreUser,
      ),
    counts: async () =>
      (
        await this.rows<{ total: number; active: number; linked: number }>(
          `SELECT count(*)::int AS total, coalesce(sum(active), 0)::int AS active, count(external_id)::int AS linked
           FROM "${this.s}".users`,
        )
      )[0]!,
    inUserNameOrder: () => this.usersInUserNameOrder(),
  };

  /** Pages of 500 rows by (user_name, id): never the whole table in memory. */
  private async *usersInUserNameOrder() {
    let after: [string, string] | null = null;
    for (;;) {
      const page: UserRow[] = await this.rows<UserRow>(
        `SELECT * FROM "${this.s}".users ${after ? 'WHERE (user_name, id) > ($1, $2)' : ''} ORDER BY user_name, id LIMIT 500`,
        after ?? [],
      );
      for (const row of page) yield toStoreUser(row);
      if (page.length < 500) return;
      const last = page[page.length - 1]!;
      after = [last.user_name, last.id];
    }
  }

  readonly scope: UserStore['scope'] = {
    applyGroupPage: (writes, generation) => scopeOps.applyGroupPage(this.db, this.s, writes, generation),
    dropUnseenMemberships: (generation) => scopeOps.dropUnseenMemberships(this.db, this.s, generation),
    beginListing: async () => this.listing.begin(),
    addToListing: async (items) => this.listing.add(items),
    commitListing: (appRoles, expand) =>
      scopeOps.commitListing(this.db, this.s, this.listing, appRoles, expand),
    isAssigned: async (principalId, principalType) =>
      (
        await this.rows(
          `SELECT 1 FROM "${this.s}".assignments WHERE principal_id = $1 AND principal_type = $2 LIMIT 1`,
          [principalId, principalType],
        )
      ).length > 0,
    relevantUserIds: async () =>
      (
        await this.rows<{ id: string }>(`SELECT id FROM (${scopeOps.relevantUsers(this.s)}) r ORDER BY 1`)
      ).map((r) => r.id),
    relevantUserCount: async (limit) =>
      (
        await this.rows<{ n: number }>(
          `SELECT count(*)::int AS n FROM (SELECT id FROM (${scopeOps.relevantUsers(this.s)}) r LIMIT $1) l`,
          [limit + 1],
        )
      )[0]!.n,
    unmirroredInScope: () => scopeOps.unmirroredInScope(this.db, this.s),
    unseenLinked: async (generation, afterId, limit) =>
      (
        await this.rows<{ id: string }>(
          `SELECT u.external_id AS id FROM "${this.s}".users u LEFT JOIN "${this.s}".source_users s ON s.entra_id = u.external_id
           WHERE u.external_id IS NOT NULL AND u.external_id > $1 AND (s.entra_id IS NULL OR s.generation < $2)
           ORDER BY u.external_id LIMIT $3`,
          [afterId, generation, limit],
        )
      ).map((r) => r.id),
    forgetUnseenUnlinked: (generation) =>
      this.exec(
        `DELETE FROM "${this.s}".source_users su WHERE generation < $1
         AND NOT EXISTS (SELECT 1 FROM "${this.s}".users u WHERE u.external_id = su.entra_id)`,
        [generation],
      ),
  };

  readonly groups: UserStore['groups'] = {
    duePlan: (afterId, limit) => this.read((db) => groupOps.duePlan(db, this.s, afterId, limit)),
    known: (entraIds) => this.read((db) => groupOps.knownGroups(db, this.s, entraIds)),
    unlinkedByDisplayName: (names) => this.read((db) => groupOps.unlinkedByDisplayName(db, this.s, names)),
    apply: (cycleId, writes, spacing) =>
      this.write(() => groupOps.applyGroups(this.db, this.s, cycleId, writes, spacing), 'groups'),
    settleMemberships: (cycleId, options) =>
      this.write(() => groupOps.settleMemberships(this.db, this.s, cycleId, options), 'group memberships'),
    markAllForPlan: () => this.write(() => groupOps.markAllForPlan(this.db, this.s), 'groups'),
    failingCount: () => this.read((db) => groupOps.failingGroupCount(db, this.s)),
    retryFailed: (group) => groupOps.retryFailedGroups(this.db, this.s, group),
    counts: () => this.read((db) => groupOps.groupCounts(db, this.s)),
    find: (key) => this.read((db) => groupOps.findGroups(db, this.s, key)),
    mirroredByDisplayName: (name) => this.read((db) => groupOps.mirroredByDisplayName(db, this.s, name)),
    memberIds: (groupId) => this.read((db) => groupOps.memberIds(db, this.s, groupId)),
    inDisplayNameOrder: () => this.groupsInDisplayNameOrder(),
  };

  /** Pages of 500 rows by (display_name, id): never the whole table in memory. */
  private async *groupsInDisplayNameOrder() {
    let after: [string, string] | null = null;
    for (;;) {
      const page = await this.read((db) => groupOps.groupsPage(db, this.s, after, 500));
      yield* page;
      if (page.length < 500) return;
      const last = page[page.length - 1]!;
      after = [last.displayName, last.id];
    }
  }

  readonly pending: UserStore['pending'] = {
    dueAfter: async (afterId, limit, cycleId) =>
      (
        await this.rows<{ entra_id: string }>(
          `SELECT entra_id FROM "${this.s}".pending_users WHERE entra_id > $1 AND (failed_cycle IS NULL OR failed_cycle <> $2)
           AND (retry_after IS NULL OR retry_after <= $3) ORDER BY entra_id LIMIT $4`,
          [afterId, cycleId, new Date().toISOString(), limit],
        )
      ).map((r) => r.entra_id),
    dueUnusable: async (cycleId) =>
      (
        await this.rows<{ entra_id: string }>(
          `SELECT entra_id FROM "${this.s}".pending_users WHERE failures > 0 AND left(last_error, length($1)) = $1
           AND (failed_cycle IS NULL OR failed_cycle <> $2) AND (retry_after IS NULL OR retry_after <= $3) ORDER BY entra_id`,
          [UNUSABLE_DATA, cycleId, new Date().toISOString()],
        )
      ).map((r) => r.entra_id),
    failing: (limit = 100) =>
      this.rows(
        `SELECT p.entra_id AS "entraId", ${failingUserName(`"${this.s}".`)} AS "userName", p.failures,
           p.last_error AS "lastError", p.retry_after AS "retryAfter"
         FROM "${this.s}".pending_users p LEFT JOIN "${this.s}".users u ON u.external_id = p.entra_id
         WHERE p.failures > 0 ORDER BY p.retry_after LIMIT $1`,
        [limit],
      ),
    failingCount: async () =>
      (
        await this.rows<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${this.s}".pending_users WHERE failures > 0`,
        )
      )[0]!.n,
    retryFailed: (user) =>
      this.exec(
        `UPDATE "${this.s}".pending_users SET retry_after = NULL, failed_cycle = NULL WHERE failures > 0
         AND ($1::text IS NULL OR ${namedUser(`"${this.s}".`, '$1', (c) => `${nocase(c)} = ${nocase('$1')}`)})`,
        [user ?? null],
      ),
    count: async () =>
      (await this.rows<{ n: number }>(`SELECT count(*)::int AS n FROM "${this.s}".pending_users`))[0]!.n,
  };

  readonly staged: UserStore['staged'] = {
    after: async (entraId, limit) =>
      (
        await this.rows<StagedRow>(
          `SELECT * FROM "${this.s}".staged_changes WHERE entra_id > $1 ORDER BY entra_id LIMIT $2`,
          [entraId, limit],
        )
      ).map(toChange),
    list: async (limit = 1000) =>
      (
        await this.rows<StagedRow>(
          `SELECT * FROM "${this.s}".staged_changes ORDER BY staged_at, entra_id LIMIT $1`,
          [limit],
        )
      ).map(toChange),
    counts: async () =>
      (
        await this.rows<{ total: number; held: number; rejected: number }>(
          `SELECT count(*)::int AS total, coalesce(sum(held), 0)::int AS held, coalesce(sum(rejected), 0)::int AS rejected
           FROM "${this.s}".staged_changes`,
        )
      )[0]!,
    restage: async (changes) => {
      if (changes.length === 0) return;
      await this.exec(
        `INSERT INTO "${this.s}".staged_changes (entra_id, cycle_id, kind, user_name, staged_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (entra_id) DO UPDATE SET kind = excluded.kind, user_name = excluded.user_name`,
        [
          changes.map((c) => c.entraId),
          changes.map((c) => c.cycleId),
          changes.map((c) => c.kind),
          changes.map((c) => c.userName),
          changes.map(() => new Date().toISOString()),
        ],
      );
    },
    remove: async (entraIds) => {
      if (entraIds.length > 0)
        await this.exec(`DELETE FROM "${this.s}".staged_changes WHERE entra_id = ANY($1::text[])`, [
          entraIds,
        ]);
    },
    holdAll: async () => {
      await this.exec(`UPDATE "${this.s}".staged_changes SET held = 1`);
    },
    rejectAll: () => this.exec(`UPDATE "${this.s}".staged_changes SET rejected = 1 WHERE held = 1`),
    clear: async () => {
      await this.exec(`DELETE FROM "${this.s}".staged_changes`);
    },
  };

  readonly state: UserStore['state'] = {
    get: async (key) =>
      (
        await this.rows<{ value: string }>(`SELECT value FROM "${this.s}".sync_state WHERE key = $1`, [key])
      )[0]?.value ?? null,
    set: async (values) => {
      const entries = Object.entries(values);
      if (entries.length === 0) return;
      await this.exec(
        `INSERT INTO "${this.s}".sync_state (key, value) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [entries.map(([k]) => k), entries.map(([, v]) => v)],
      );
    },
    nextGeneration: async () => {
      const rows = await this.rows<{ value: string }>(
        `INSERT INTO "${this.s}".sync_state AS st (key, value) VALUES ('generation', '1')
         ON CONFLICT (key) DO UPDATE SET value = (st.value::int + 1)::text RETURNING value`,
      );
      return Number(rows[0]!.value);
    },
    forgetDeltaState: async () => {
      await this.exec(`DELETE FROM "${this.s}".sync_state WHERE key = ANY($1::text[])`, [DELTA_STATE_KEYS]);
    },
    firstReport: async (elementKey) => {
      return (
        (await this.exec(
          `INSERT INTO "${this.s}".sync_state (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [reportKey(elementKey), new Date().toISOString()],
        )) > 0
      );
    },
  };

  /**
   * On the pool, never in the cycle's open transaction: seen at once. Written only while `owner`
   * holds the lease, so a former leader cut off mid-cycle cannot overwrite its successor's record.
   */
  readonly progress: UserStore['progress'] = {
    publish: async (record) => {
      await this.pool.query(
        `INSERT INTO "${this.s}".sync_state (key, value)
           SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM "${this.s}".locks WHERE name = $3 AND owner = $4)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [PROGRESS_KEY, JSON.stringify(record), CYCLE_LEASE, record.owner],
      );
    },
    read: async () =>
      parseProgress(
        (
          await this.rows<{ value: string }>(`SELECT value FROM "${this.s}".sync_state WHERE key = $1`, [
            PROGRESS_KEY,
          ])
        )[0]?.value ?? null,
      ),
    clear: async (cycleId) => {
      await this.pool.query(
        `DELETE FROM "${this.s}".sync_state WHERE key = $1 AND (value::jsonb)->>'cycleId' = $2`,
        [PROGRESS_KEY, cycleId],
      );
    },
  };

  readonly cycles: UserStore['cycles'] = {
    start: async (id, kind, dryRun) => {
      await this.exec(
        `INSERT INTO "${this.s}".cycles (id, kind, dry_run, started_at, status) VALUES ($1, $2, $3, $4, 'running')`,
        [id, kind, dryRun ? 1 : 0, new Date().toISOString()],
      );
    },
    finish: async (id, status, counts, graphRequests, error, failureClass) => {
      await this.exec(
        `UPDATE "${this.s}".cycles SET ended_at = $1, status = $2, counts = $3, graph_requests = $4, error = $5,
           failure_class = $6 WHERE id = $7`,
        [
          new Date().toISOString(),
          status,
          JSON.stringify(counts),
          graphRequests,
          error ?? null,
          failureClass ?? null,
          id,
        ],
      );
    },
    get: async (id) =>
      first(await this.rows<CycleRow>(`SELECT * FROM "${this.s}".cycles WHERE id = $1`, [id]), toRecord),
    recent: async (limit, which = 'all') =>
      (
        await this.rows<CycleRow>(
          `SELECT * FROM "${this.s}".cycles WHERE ${CYCLE_SET_SQL[which]} ORDER BY started_at DESC LIMIT $1`,
          [limit],
        )
      ).map(toRecord),
    lastSucceeded: async () =>
      first(
        await this.rows<CycleRow>(
          `SELECT * FROM "${this.s}".cycles WHERE status = 'succeeded' AND dry_run = 0 AND ${CYCLE_SET_SQL.job}
           ORDER BY started_at DESC LIMIT 1`,
        ),
        toRecord,
      ),
    markAbandoned: () =>
      this.exec(
        `UPDATE "${this.s}".cycles SET status = 'aborted', ended_at = $1, error = 'the process ended during the cycle'
         WHERE status = 'running'`,
        [new Date().toISOString()],
      ),
  };

  readonly audit: UserStore['audit'] = {
    append: (entries) => appendAudit(this.db, this.s, entries),
    query: async (q) => {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (q.cycleId) add('cycle_id = ?', q.cycleId);
      if (q.userName) add(`${nocase('user_name')} = ${nocase('?')}`, q.userName);
      if (q.user) {
        params.push(q.user);
        const p = `$${params.length}`;
        where.push(userHistory(`"${this.s}".`, p, (c) => `${nocase(c)} = ${nocase(p)}`));
      }
      if (q.group) {
        params.push(q.group);
        const p = `$${params.length}`;
        where.push(groupHistory(`"${this.s}".`, p, (c) => `${nocase(c)} = ${nocase(p)}`));
      }
      if (q.action) add('action = ?', q.action);
      if (q.since) add('at >= ?', q.since);
      params.push(q.limit ?? 100);
      const rows = await this.rows<AuditRow>(
        `SELECT * FROM "${this.s}".audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY seq DESC LIMIT $${params.length}`,
        params,
      );
      return rows.reverse().map(toAuditEntry);
    },
  };

  // ── Transactions ──
  /**
   * A transaction on a connection of its own. The start (connect, BEGIN, the fencing check) is
   * retried like a Graph fault; a lease holder's transaction checks its fencing token first.
   */
  private async begin(): Promise<{ client: pg.PoolClient; release: (broken?: Error) => void }> {
    return withRetry(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      // A connection lost between statements must not become an uncaught 'error' event.
      const onError = (error: Error) => (broken = error);
      client.on('error', onError);
      const release = (error?: Error) => {
        client.off('error', onError);
        client.release(broken ?? error ?? false);
      };
      try {
        await client.query('BEGIN');
        if (this.fencingToken !== null) await assertHeld(client, this.s, this.fencingToken);
        return { client, release };
      } catch (error) {
        release(error as Error);
        throw error;
      }
    }, RETRY);
  }

  private async end(
    tx: { client: pg.PoolClient; release: (broken?: Error) => void },
    commit: boolean,
  ): Promise<void> {
    try {
      await tx.client.query(commit ? 'COMMIT' : 'ROLLBACK');
      tx.release();
    } catch (error) {
      tx.release(error as Error);
      if (commit) throw error;
    }
  }

  /** Inside an open transaction (a span, a dry run, an outer write) `fn` joins it. */
  async write<T>(fn: () => Promise<T>, _operation: string): Promise<T> {
    if (this.current.getStore() || this.span) return fn();
    const tx = await this.begin();
    let result: T;
    try {
      result = await this.current.run(tx.client, fn);
    } catch (error) {
      await this.end(tx, false);
      throw error;
    }
    await this.end(tx, true);
    return result;
  }

  get inTransaction(): boolean {
    return this.span !== null || this.current.getStore() !== undefined;
  }

  async writeSpan(_operation: string): Promise<WriteSpan> {
    // Inside a dry run (or another span) the writes join it: ending it is its owner's business.
    if (this.span) return { commit: async () => {}, rollback: async () => {} };
    const tx = await this.begin();
    this.span = tx;
    const close = async (commit: boolean) => {
      if (this.span !== tx) return;
      this.span = null;
      await this.end(tx, commit);
    };
    return { commit: () => close(true), rollback: () => close(false) };
  }

  async dryRun<T>(fn: () => Promise<T>): Promise<T> {
    const tx = await this.begin();
    this.span = tx;
    try {
      return await fn();
    } finally {
      if (this.span === tx) {
        this.span = null;
        await this.end(tx, false);
      }
    }
  }

  async abandonOpenWrite(): Promise<void> {
    const tx = this.span;
    if (!tx) return;
    this.span = null;
    await this.end(tx, false);
  }

  /** The assignment listing being read; local to this process like the page stash it lives in. */
  private get listing(): PostgresListing {
    return (this.cycleListing ??= new PostgresListing(this.pageStash('assignment_pages')));
  }

  pageStash<T>(name: string): PageStash<T> {
    // Local scratch: a private SQLite file in the temporary folder, never the shared database.
    this.scratch ??= new Database('');
    return new SqlitePageStash<T>(this.scratch, name);
  }

  cycleLease(owner: string, ttlMs: number): CycleLease {
    return new PgCycleLease(this, new PostgresLease(this.pool, this.s), owner, ttlMs);
  }

  async leaseHolder(now = Date.now()): Promise<LeaseHolder | null> {
    const holder = await withRetry(() => new PostgresLease(this.pool, this.s).holder(), RETRY);
    return holder && holder.expiresAt > now ? holder : null;
  }

  async closeInterrupted(owner: string): Promise<void> {
    try {
      await this.abandonOpenWrite();
      const token = this.fencingToken;
      if (token === null) return;
      this.fencingToken = null;
      this.fencingOwner = null;
      await this.pool.query(
        `WITH gone AS (DELETE FROM "${this.s}".locks WHERE name = $1 AND token = $2 AND owner = $3 RETURNING 1)
         UPDATE "${this.s}".cycles SET status = 'aborted', ended_at = $4, error = 'the process ended during the cycle'
         WHERE status = 'running' AND EXISTS (SELECT 1 FROM gone)`,
        [CYCLE_LEASE, token, owner, new Date().toISOString()],
      );
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.scratch?.close();
    this.scratch = null;
    if (!this.pool.ending) await this.pool.end();
  }
}

const first = <R, T>(rows: R[], map: (row: R) => T): T | null => (rows[0] ? map(rows[0]) : null);

/** The cycle lease of one owner: taken with a fencing token that the store's writes then check. */
class PgCycleLease implements CycleLease {
  lost = false;
  private renewTimer?: NodeJS.Timeout;
  private token: number | null = null;

  constructor(
    private readonly store: PostgresStore,
    private readonly lease: PostgresLease,
    readonly owner: string,
    private readonly ttlMs: number,
  ) {}

  async tryAcquire(): Promise<LeaseHolder | null> {
    // This process took the lease for this owner already (the scheduler's tick, before its cycle).
    if (this.store.fencingOwner === this.owner && this.store.fencingToken !== null) {
      this.token = this.store.fencingToken;
      return null;
    }
    let take = await withRetry(() => this.lease.tryAcquire(this.owner, this.ttlMs), RETRY);
    // A holder on this host whose process is gone (killed) need not be waited out, as on SQLite.
    if (!take.taken && holderIsDead(take.owner)) {
      const dead = take.owner;
      take = await withRetry(() => this.lease.takeOver(this.owner, this.ttlMs, dead), RETRY);
    }
    if (!take.taken) return { owner: take.owner, expiresAt: take.expiresAt };
    this.token = take.token;
    this.store.fencingToken = take.token;
    this.store.fencingOwner = this.owner;
    return null;
  }

  async acquire(onWait: (holder: LeaseHolder) => void, pollMs = 500, timeoutMs = Infinity): Promise<void> {
    await waitForLease(() => this.tryAcquire(), onWait, pollMs, timeoutMs);
    this.renewTimer = setInterval(() => void this.renew(), Math.max(1000, this.ttlMs / 3));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (this.token === null) return;
    try {
      if (!(await this.lease.renew(this.token, this.ttlMs))) this.lost = true;
    } catch {
      // The database is unreachable: the next renewal tries again; writes fail meanwhile anyway.
    }
  }

  async release(): Promise<void> {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    const token = this.token;
    this.token = null;
    if (this.store.fencingToken === token) {
      this.store.fencingToken = null;
      this.store.fencingOwner = null;
    }
    if (token === null) return;
    try {
      await this.lease.release(token);
    } catch {
      // Unreachable: the lease expires by itself.
    }
  }

  holder(): Promise<LeaseHolder | null> {
    return this.lease.holder();
  }
}
