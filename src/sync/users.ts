import {
  MAX_FILTER_IDS,
  latestUsersDeltaLink,
  readUsersById,
  usersDeltaRound,
  userSelect,
} from '../source/users.js';
import type { UserChange } from '../source/types.js';
import { dispatched } from '../graph/api.js';
import type { WriteSpan } from '../store/index.js';
import { UsersReadAhead } from './read-ahead.js';
import { withDeltaRestarts } from './restart.js';
import type { CycleContext } from './context.js';
import { ingest, type IngestMode } from './ingest.js';

export interface UsersRoundResult {
  deltaLink: string;
  full: boolean;
  generation: number;
}

/**
 * Users gathered, at most, while pages arrive faster than they are written (see Batch), then written
 * in id order. Pages are parsed objects, a few MB for 5,000 users; memory does not grow with the
 * tenant.
 */
export const BATCH_USERS = 5000;
export const BATCH_MAX_MS = 2000;
/**
 * Users per transaction, and how long one stays open, at most. One commit writes every index page
 * its users touched, and the keys are random, so nearly every page of five indexes: in a full round
 * (initial, resync) a transaction takes up to 50,000 users or 10 s, which took the initial sync of
 * 100,000 from 26.5 s to 20.4 s here; an incremental round keeps 5,000 users or 2 s. The bound is
 * how long the store's write lock is held (README, "Reading the store").
 */
export const TXN_LIMITS = {
  full: { users: 50_000, ms: 10_000 },
  other: { users: 5000, ms: 2000 },
} as const;
/** A page that took this long to arrive is written at once (Graph is slower than the writes). */
export const SLOW_PAGE_MS = 25;
/** A transaction left open between slow pages is committed when the next page takes this long. */
export const IDLE_COMMIT_MS = 1000;

/**
 * How a full round reads the users (scope `assigned` only; `all` always pages the tenant):
 * - `tenant`: page all of users/delta (200 users per request) and keep the users that matter;
 * - `scoped`: take a deltaLink for "now" (`$deltatoken=latest`), then read the users that matter
 *   by id, 50 per request, READ_CONCURRENCY requests at a time.
 * `auto` reads by id when at most SCOPED_MAX_USERS users are in scope or linked: at most 200
 * requests, and about as long as paging a tenant of that size (4 requests in flight, a quarter of
 * the users each), so never much slower, and far faster when few of a large tenant are assigned
 * (1% of 1,000,000: 200 requests instead of 5,000). Incremental rounds are the same either way:
 * the tenant-wide deltaLink, then a read by id of the users that entered scope.
 */
export type UsersStrategy = 'tenant' | 'scoped';
export const SCOPED_MAX_USERS = 10_000;
export const READ_CONCURRENCY = 4;

/**
 * One users round, streamed: pages are read ahead while the current batch is written, and written
 * in bounded batches, so memory does not grow with the tenant. The deltaLink is returned, not
 * saved: the caller saves it after the last writes of the round.
 */
export async function syncUsers(
  ctx: CycleContext,
  link: string | null,
  generation: () => Promise<number>,
  readAhead: UsersReadAhead | null = null,
): Promise<UsersRoundResult> {
  return withDeltaRestarts(ctx, 'users', link, async (from) =>
    from ? deltaRound(ctx, from, 0, readAhead) : fullRound(ctx, await generation(), readAhead),
  );
}

/**
 * Starts reading the users round while the scope is read (see UsersReadAhead), when the round will
 * page users/delta: an incremental round always; a full round when it will page the tenant, as far
 * as the store can tell before the listing is applied. A store that has no users in scope yet (the
 * first cycle) cannot tell, so the tenant is read ahead; if the listing then makes it a round by
 * id, the read-ahead is dropped, having cost the few pages read while a short listing was read.
 */
export async function readUsersAhead(ctx: CycleContext, link: string | null): Promise<UsersReadAhead | null> {
  if (link) return UsersReadAhead.start(ctx, { link });
  const pagesTenant =
    (await ctx.store.scope.relevantUserCount(0)) === 0
      ? ctx.usersStrategy !== 'scoped'
      : (await usersStrategy(ctx)) === 'tenant';
  return pagesTenant
    ? UsersReadAhead.start(ctx, { select: userSelect(ctx.mappings.sourceAttributes) })
    : null;
}

/** The strategy of a full round: ENTRASYNC_USERS_STRATEGY=tenant|scoped overrides `auto`. */
export async function usersStrategy(ctx: CycleContext): Promise<UsersStrategy> {
  if (ctx.scope === 'all') return 'tenant';
  if (ctx.usersStrategy !== 'auto') return ctx.usersStrategy;
  return (await ctx.store.scope.relevantUserCount(SCOPED_MAX_USERS)) <= SCOPED_MAX_USERS
    ? 'scoped'
    : 'tenant';
}

async function fullRound(
  ctx: CycleContext,
  generation: number,
  readAhead: UsersReadAhead | null,
): Promise<UsersRoundResult> {
  if ((await usersStrategy(ctx)) === 'tenant') return deltaRound(ctx, null, generation, readAhead);
  await readAhead?.cancel();
  // The deltaLink first: whatever changes while the users are read is in the next round.
  const deltaLink = await latestUsersDeltaLink(ctx.api, userSelect(ctx.mappings.sourceAttributes));
  const ids = await ctx.store.scope.relevantUserIds();
  ctx.progress?.expect(ids.length);
  await readById(ctx, ids, generation);
  ctx.log.info(
    {
      cycleId: ctx.cycleId,
      strategy: 'scoped',
      users: ids.length,
      requests: Math.ceil(ids.length / MAX_FILTER_IDS) + 1,
    },
    'users round complete',
  );
  return { deltaLink, full: true, generation };
}

/** A users/delta round: the whole tenant (`link` null) or the changes since a deltaLink. */
async function deltaRound(
  ctx: CycleContext,
  link: string | null,
  generation: number,
  readAhead: UsersReadAhead | null,
): Promise<UsersRoundResult> {
  const select = userSelect(ctx.mappings.sourceAttributes);
  const start = link ? { link } : { select };
  const early = readAhead?.claim(start) ?? null;
  const pagesOfRound = early ?? usersDeltaRound(ctx.api, start);
  const toRead = new Set<string>();
  const batch = new Batch(ctx, link ? 'changes' : 'full', generation, toRead);
  let pages = 0;
  let users = 0;
  let asked = performance.now();
  try {
    for await (const page of pagesOfRound) {
      pages++;
      users += page.items.length;
      ctx.progress?.pageRead(page.items.length);
      await batch.add(page.items, performance.now() - asked);
      asked = performance.now();
      if (!page.deltaLink) {
        if (pages % 50 === 0)
          ctx.log.info({ cycleId: ctx.cycleId, pages, items: users }, 'users round progress');
        continue;
      }
      await batch.flush();
      // Users that entered scope without being mirrored: a new assignment or membership, or a change
      // of a user never read. Read in full after the round, so nothing they did is missed.
      if (link) for (const id of await ctx.store.scope.unmirroredInScope()) toRead.add(id);
      // Users whose data was unusable and whose retry is due: read again in full.
      if (link) for (const id of await ctx.store.pending.dueUnusable(ctx.cycleId)) toRead.add(id);
      if (toRead.size > 0) await readById(ctx, [...toRead].sort(), generation);
      ctx.log.info(
        {
          cycleId: ctx.cycleId,
          strategy: 'tenant',
          pages,
          items: users,
          full: !link,
          readAhead: early ? readAhead!.earlyPages : 0,
          readById: toRead.size,
        },
        'users round complete',
      );
      return { deltaLink: page.deltaLink, full: !link, generation };
    }
  } catch (error) {
    await batch.abort();
    throw error;
  }
  throw new Error('users/delta ended without a deltaLink');
}

/** Reads users by id, READ_CONCURRENCY requests of up to 50 ids in flight, written as they come. */
async function readById(ctx: CycleContext, ids: readonly string[], generation: number): Promise<void> {
  const select = userSelect(ctx.mappings.sourceAttributes);
  const inFlight: Promise<UserChange[]>[] = [];
  let next = 0;
  const launch = () => {
    const read = readUsersById(ctx.api, select, ids.slice(next, next + MAX_FILTER_IDS));
    read.catch(() => undefined); // awaited below; a failure while a batch is written is not lost
    inFlight.push(read);
    next += MAX_FILTER_IDS;
  };
  while (inFlight.length < READ_CONCURRENCY && next < ids.length) launch();
  const batch = new Batch(ctx, 'read', generation);
  let done = 0;
  let asked = performance.now();
  try {
    while (inFlight.length > 0) {
      const items = await inFlight.shift()!;
      ctx.progress?.pageRead(items.length);
      if (next < ids.length) {
        launch();
        await dispatched(); // on the wire before this batch's synchronous writes
      }
      await batch.add(items, performance.now() - asked);
      asked = performance.now();
      if (++done % 50 === 0)
        ctx.log.info(
          { cycleId: ctx.cycleId, read: Math.min(next, ids.length), of: ids.length },
          'users read by id',
        );
    }
    await batch.flush();
  } catch (error) {
    await batch.abort();
    throw error;
  }
}

/**
 * Pages waiting to be written. While Graph hands out pages faster than they are written, they are
 * gathered (up to BATCH_USERS users or BATCH_MAX_MS) and written in id order: the commits, not the
 * rows, are what costs. When a page took SLOW_PAGE_MS or more to arrive, Graph is the bottleneck:
 * the page is written at once, while the next one is already being read, so its writes are hidden
 * behind Graph's latency. Either way the writes go into a transaction left open up to TXN_LIMITS,
 * because a commit per page of 200 users rewrote every index page those users touched (500 commits
 * at 100,000 users and 100 ms per page: 30 s more than the pages).
 *
 * A batch is written store.usersPerBatch users at a time, letting I/O run in between: the pages being read
 * (the next one, and the users read-ahead) go on arriving while 5,000 users are written, instead of
 * waiting a second for the event loop. An open transaction holds the store's write lock, so it is
 * committed as soon as Graph has kept it waiting IDLE_COMMIT_MS: a slow or failing Graph never
 * holds the lock for long.
 */
class Batch {
  private items: UserChange[] = [];
  private since = 0;
  /** The open transaction and when it began; null when none is. */
  private span: WriteSpan | null = null;
  private openSince = 0;
  private writtenSinceBegin = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleFailure: Error | undefined;

  constructor(
    private readonly ctx: CycleContext,
    private readonly mode: IngestMode,
    private readonly generation: number,
    private readonly toRead?: Set<string>,
  ) {}

  async add(items: UserChange[], waitedMs: number): Promise<void> {
    this.stopIdleTimer();
    if (this.items.length === 0) this.since = Date.now();
    for (const item of items) this.items.push(item);
    if (
      waitedMs >= SLOW_PAGE_MS ||
      this.items.length >= BATCH_USERS ||
      Date.now() - this.since >= BATCH_MAX_MS
    )
      await this.write();
  }

  /** Writes what is gathered and commits. */
  async flush(): Promise<void> {
    this.stopIdleTimer();
    await this.write();
    await this.commit();
  }

  /** After a failure: an open transaction is rolled back (the round is read again next cycle). */
  async abort(): Promise<void> {
    this.stopIdleTimer();
    this.items = [];
    const span = this.span;
    if (span === null) return;
    this.span = null;
    await span.rollback();
  }

  private async write(): Promise<void> {
    // A commit the idle timer made failed (the transaction is rolled back): the round fails here.
    if (this.idleFailure) throw this.idleFailure;
    if (this.items.length === 0) return;
    const { store } = this.ctx;
    // In a dry run the cycle's own transaction is open: everything stays inside it.
    if (this.span === null && !store.inTransaction) {
      this.span = await store.writeSpan('users batch');
      this.openSince = Date.now();
      this.writtenSinceBegin = 0;
    }
    // In id order (a stable sort: one user's changes keep their arrival order): the mirror, the
    // users' external ids and the audit's Entra ids are then written in key order, each index page
    // loaded once per batch instead of at random; at a million users the page cache is far smaller
    // than the store.
    const items = this.items.sort((a, b) => compareIds(a.id ?? '', b.id ?? ''));
    this.items = [];
    this.writtenSinceBegin += items.length;
    const chunkSize = store.usersPerBatch;
    for (let i = 0; i < items.length; i += chunkSize) {
      if (i > 0) await dispatched();
      const chunk = items.slice(i, i + chunkSize);
      // Straight into the open transaction: a savepoint around the chunk would journal every page it
      // changes (1.5 s of system time at 100,000 users) for a rollback that the round's failure
      // does anyway (abort), and the store keeps its own savepoint for a user it rejects.
      await ingest(this.ctx, chunk, this.mode, this.generation, this.toRead);
    }
    if (this.span === null) return;
    const limit = TXN_LIMITS[this.mode === 'full' ? 'full' : 'other'];
    if (this.writtenSinceBegin >= limit.users || Date.now() - this.openSince >= limit.ms) await this.commit();
    else
      this.idleTimer = setTimeout(() => {
        this.commit().catch((error: Error) => {
          this.idleFailure = error;
        });
      }, IDLE_COMMIT_MS);
  }

  private async commit(): Promise<void> {
    this.stopIdleTimer();
    const span = this.span;
    if (span === null) return;
    this.span = null;
    await span.commit();
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
