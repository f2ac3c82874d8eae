import { usersDeltaRound, userSelect } from '../source/users.js';
import type { UserChange } from '../source/types.js';
import { withDeltaRestarts } from './restart.js';
import type { CycleContext } from './context.js';
import { evaluateUsers } from './evaluate.js';

export interface UsersRoundResult {
  deltaLink: string;
  full: boolean;
  generation: number;
}

/**
 * Users written per transaction, at most: pages are gathered until this many users (or
 * BATCH_MAX_MS have passed, or the round ends) and then mirrored, planned and applied in one
 * transaction. A commit rewrites every index page the batch touched (ids are random), so one commit
 * per 5,000 users instead of one per 200-user page writes far less; the write lock is held only
 * while the batch is written, never while Graph is awaited.
 */
export const BATCH_USERS = 5000;
export const BATCH_MAX_MS = 2000;

/**
 * One users/delta round: pages are streamed (the next one is read while the current batch is
 * written) and written in bounded batches, so memory does not grow with the tenant. The deltaLink
 * is returned, not saved: the caller saves it after the last writes of the round.
 */
export async function syncUsers(
  ctx: CycleContext,
  link: string | null,
  generation: () => number,
): Promise<UsersRoundResult> {
  return withDeltaRestarts(ctx, 'users', link, (from) => usersRound(ctx, from, from ? 0 : generation()));
}

async function usersRound(
  ctx: CycleContext,
  link: string | null,
  generation: number,
): Promise<UsersRoundResult> {
  const select = userSelect(ctx.mappings.sourceAttributes);
  const start = link ? { link } : { select };
  let pages = 0;
  let users = 0;
  let batch: UserChange[] = [];
  let batchStarted = 0;
  for await (const page of usersDeltaRound(ctx.api, start)) {
    pages++;
    users += page.items.length;
    if (batch.length === 0) batchStarted = Date.now();
    for (const item of page.items) batch.push(item);
    if (page.deltaLink || batch.length >= BATCH_USERS || Date.now() - batchStarted >= BATCH_MAX_MS) {
      const items = batch;
      batch = [];
      ctx.store.transaction(() =>
        ctx.store.mirror.withRecentWrites(() => ingest(ctx, items, !!link, generation)),
      );
    }
    if (page.deltaLink) {
      ctx.log.info({ cycleId: ctx.cycleId, pages, items: users, full: !link }, 'users round complete');
      return { deltaLink: page.deltaLink, full: !link, generation };
    }
    if (pages % 50 === 0) ctx.log.info({ cycleId: ctx.cycleId, pages, items: users }, 'users round progress');
  }
  throw new Error('users/delta ended without a deltaLink');
}

/** Mirrors a batch of changes in arrival order, then plans and applies each user once. */
function ingest(ctx: CycleContext, items: UserChange[], incremental: boolean, generation: number): void {
  const { mirror, users } = ctx.store;
  const ids = new Set<string>();
  for (const item of items) {
    if (item.kind === 'invalid') {
      recordInvalid(ctx, item);
      continue;
    }
    if (item.kind === 'upsert') {
      mirror.upsertUser(item.id, item.attributes, incremental, generation);
    } else if (item.reason === 'changed') {
      if (!mirror.softDeleteUser(item.id, generation)) continue; // never seen: nothing to disable
    } else if (!mirror.markHardDeleted(item.id, users.findByExternalId(item.id) !== null)) {
      continue; // never seen and never provisioned (possible in an initial round)
    }
    ids.add(item.id);
  }
  evaluateUsers(ctx, ids);
}

function recordInvalid(ctx: CycleContext, item: Extract<UserChange, { kind: 'invalid' }>): void {
  ctx.counts.error++;
  ctx.store.audit.append({
    cycleId: ctx.cycleId,
    action: 'error',
    status: 'failure',
    entraId: item.id,
    userId: null,
    userName: null,
    modified: [],
    reason: `unusable data from Graph: ${item.problem}`,
  });
  ctx.log.warn(
    { cycleId: ctx.cycleId, entraId: item.id, problem: item.problem },
    'user item from Graph rejected',
  );
}
