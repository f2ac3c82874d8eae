import { usersDeltaRound } from '../source/users.js';
import type { DeltaPage, UserChange } from '../source/types.js';
import type { PageStash } from '../store/index.js';
import type { CycleContext } from './context.js';

type Page = DeltaPage<UserChange>;
/** Where a users/delta round starts: a stored deltaLink, or the tenant from the start. */
export type RoundStart = { link: string } | { select: readonly string[] };

/**
 * Pages held at most before the reading waits for the round. Against Graph at 100 ms a page that
 * is 200 s of listing, 400,000 users, about 150 MB of temporary file.
 */
export const MAX_READ_AHEAD_PAGES = 2000;
/** Pages held in memory, at most, once the round reads: enough to keep Graph busy while it writes. */
export const QUEUED_PAGES = 4;

/**
 * The users round, started while the scope (groups round, assignment listing) is still being read.
 * Users cannot be written before the scope is applied (it decides who is kept and who is planned),
 * but they can be read: Graph has no delta for assignments, and listing 100,000 of them is 101
 * requests, 10 s at 100 ms each, that the users round would otherwise wait for. Until the round
 * takes over, pages go to a temporary stash (no memory held, however long the listing takes); then
 * the reading goes on, QUEUED_PAGES ahead in memory, while the round takes the stashed pages and
 * then the queued ones in order, so that its writes do not hold up Graph's next page. The round
 * sees exactly the pages it would have read itself.
 *
 * It only reads: a failed read is handed to the round at the page where it happened, as without
 * read-ahead; a read-ahead the round does not take (the scope failed, or a full round reads by id
 * after all) is stopped and its stash dropped.
 */
export class UsersReadAhead {
  private readonly pages: AsyncGenerator<Page>;
  private readonly stash: PageStash<Page>;
  /** Pages read after the round took over: in memory, a few at most. */
  private readonly queue: Page[] = [];
  private readonly task: Promise<void>;
  private stopping = false;
  private claimed = false;
  private done = false;
  private failure: unknown = undefined;
  /** Wakes whoever waits: the round for a page, or the reading for room in the stash. */
  private wake: (() => void) | undefined;
  /** Pages read before the round took the read-ahead: read while the scope was read. */
  earlyPages = 0;

  private constructor(
    private readonly ctx: CycleContext,
    private readonly start: RoundStart,
  ) {
    this.stash = ctx.store.pageStash<Page>('users_read_ahead');
    this.stash.clear();
    this.pages = usersDeltaRound(ctx.api, start);
    this.task = this.read();
  }

  static start(ctx: CycleContext, start: RoundStart): UsersReadAhead {
    return new UsersReadAhead(ctx, start);
  }

  /**
   * The round's pages, if this read-ahead started where the round starts and was not taken yet:
   * the stashed pages in order, then the others as they arrive.
   */
  claim(start: RoundStart): AsyncGenerator<Page> | null {
    if (this.claimed || !sameStart(this.start, start)) return null;
    this.claimed = true;
    this.earlyPages = this.stash.size;
    return this.take();
  }

  /** Stops reading and drops the stash (the round was not taken or has ended, or the cycle failed). */
  async cancel(): Promise<void> {
    if (!this.claimed && this.stash.size > 0)
      this.ctx.log.info(
        { cycleId: this.ctx.cycleId, pages: this.stash.size },
        'users pages read ahead were dropped: the round was not read from them',
      );
    this.claimed = true;
    this.stopping = true;
    this.poke();
    await this.task;
    this.stash.clear();
    this.queue.length = 0;
    await this.pages.return(undefined).catch(() => undefined);
  }

  private async read(): Promise<void> {
    try {
      while (!this.stopping) {
        if (this.claimed ? this.queue.length >= QUEUED_PAGES : this.stash.size >= MAX_READ_AHEAD_PAGES) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        const next = await this.pages.next();
        if (next.done) break;
        if (this.stopping) return;
        if (this.claimed) this.queue.push(next.value);
        else this.stash.push(next.value);
        this.poke();
        if (next.value.deltaLink) break;
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.done = true;
      this.poke();
    }
  }

  private async *take(): AsyncGenerator<Page> {
    try {
      for (;;) {
        // Every stashed page was read before any queued one.
        const page = this.stash.shift() ?? this.queue.shift();
        if (page) {
          this.poke(); // room in the stash again
          yield page;
          continue;
        }
        if (this.done) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // The round ended or failed: nothing more is read for it.
      this.stopping = true;
      this.poke();
    }
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

function sameStart(a: RoundStart, b: RoundStart): boolean {
  if ('link' in a || 'link' in b) return 'link' in a && 'link' in b && a.link === b.link;
  return a.select.join(',') === b.select.join(',');
}
