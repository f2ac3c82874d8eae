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
 * One users/delta round: each page is mirrored and its users planned and applied in one
 * transaction, so only one page is ever held. The deltaLink is returned, not saved: the caller
 * saves it with the last writes of the round.
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
  for await (const page of usersDeltaRound(ctx.api, start)) {
    pages++;
    users += page.items.length;
    ctx.store.transaction(() => ingestPage(ctx, page.items, !!link, generation));
    if (page.deltaLink) {
      ctx.log.info({ cycleId: ctx.cycleId, pages, items: users, full: !link }, 'users round complete');
      return { deltaLink: page.deltaLink, full: !link, generation };
    }
    if (pages % 50 === 0) ctx.log.info({ cycleId: ctx.cycleId, pages, items: users }, 'users round progress');
  }
  throw new Error('users/delta ended without a deltaLink');
}

function ingestPage(ctx: CycleContext, items: UserChange[], incremental: boolean, generation: number): void {
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
