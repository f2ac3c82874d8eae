import { userAttributes } from '../source/validate.js';
import { readDeletedUser, readUser, toUserChange, userSelect } from '../source/users.js';
import type { UserChange } from '../source/types.js';
import { ingest } from './ingest.js';
import type { CycleContext } from './context.js';

/**
 * After a complete full enumeration: linked users it did not list are looked up one by one, never
 * assumed gone. In the recycle bin → soft-deleted (disable); 404 everywhere → hard-deleted
 * (delete); still there → mirrored again. A lookup that fails fails the cycle before the new
 * deltaLink is saved, so the next cycle reconciles again.
 */
export async function reconcileUnseen(ctx: CycleContext, generation: number): Promise<number> {
  const { store, log } = ctx;
  const select = userSelect(ctx.mappings.sourceAttributes);
  let after = '';
  let checked = 0;
  for (;;) {
    const ids = await store.scope.unseenLinked(generation, after, ctx.settings.sync.batchSize);
    if (ids.length === 0) break;
    after = ids[ids.length - 1]!;
    for (const id of ids) {
      checked++;
      ctx.progress?.step();
      const changes = await lookUp(ctx, id, select);
      await store.write(() => ingest(ctx, changes, 'read', generation), 'reconciliation');
    }
  }
  const forgotten = await store.write(() => store.scope.forgetUnseenUnlinked(generation), 'reconciliation');
  if (checked || forgotten)
    log.info({ cycleId: ctx.cycleId, checked, forgotten }, 'reconciliation after full enumeration');
  return checked;
}

/** The selected attributes of a Graph user (lookups answer with a few more). */
function selected(ctx: CycleContext, raw: Record<string, unknown>): Record<string, unknown> {
  const wanted = new Set(userSelect(ctx.mappings.sourceAttributes));
  return Object.fromEntries(Object.entries(raw).filter(([k]) => wanted.has(k)));
}

/**
 * What Graph says of a linked user the full round did not list, as changes of a round read by id:
 * in the recycle bin → its last attributes and a soft delete; still there → the user (one whose
 * data is unusable fails alone, escrowed, never the cycle); 404 everywhere → hard-deleted.
 */
async function lookUp(ctx: CycleContext, id: string, select: readonly string[]): Promise<UserChange[]> {
  const deleted = await readDeletedUser(ctx.api, id);
  if (deleted) {
    const removed: UserChange = { kind: 'removed', id, reason: 'changed' };
    const parsed = userAttributes(selected(ctx, deleted));
    if (!('problem' in parsed)) return [{ kind: 'upsert', id, attributes: parsed.attributes }, removed];
    // The mirror keeps the attributes it has: the soft delete is the fact that matters.
    ctx.log.warn(
      { cycleId: ctx.cycleId, entraId: id, problem: parsed.problem },
      'soft-deleted user has unusable data',
    );
    return [removed];
  }
  const live = await readUser(ctx.api, id, select);
  if (live) return [toUserChange({ ...selected(ctx, live), id })];
  return [{ kind: 'removed', id, reason: 'deleted' }];
}
