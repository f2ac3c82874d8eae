import { userAttributes } from '../source/validate.js';
import { readDeletedUser, readUser, toUserChange, userSelect } from '../source/users.js';
import { ingest } from './users.js';
import type { CycleContext } from './context.js';
import { evaluateUsers } from './evaluate.js';

/**
 * After a complete full enumeration: linked users it did not list are looked up one by one, never
 * assumed gone. In the recycle bin → soft-deleted (disable); 404 everywhere → hard-deleted
 * (delete); still there → mirrored again. A lookup that fails fails the cycle before the new
 * deltaLink is saved, so the next cycle reconciles again.
 */
export async function reconcileUnseen(ctx: CycleContext, generation: number): Promise<number> {
  const { store, api, log } = ctx;
  const select = userSelect(ctx.mappings.sourceAttributes);
  let after = '';
  let checked = 0;
  for (;;) {
    const ids = store.mirror.unseenLinkedUsers(generation, after, ctx.settings.sync.batchSize);
    if (ids.length === 0) break;
    after = ids[ids.length - 1]!;
    for (const id of ids) {
      checked++;
      const deleted = await readDeletedUser(api, id);
      if (deleted) {
        await store.write(() => {
          mirrorFrom(ctx, id, deleted, generation);
          store.mirror.softDeleteUser(id, generation);
          evaluateUsers(ctx, [id]);
        }, 'reconciliation');
        continue;
      }
      const live = await readUser(api, id, select);
      await store.write(() => {
        if (live) {
          // As any user read by id: one whose data is unusable fails alone (escrow), never the cycle.
          ingest(ctx, [toUserChange({ ...selected(ctx, live), id })], 'read', generation);
          return;
        }
        store.mirror.markHardDeleted(id, true);
        evaluateUsers(ctx, [id]);
      }, 'reconciliation');
    }
  }
  const forgotten = await store.write(() => store.mirror.forgetUnseenUnlinked(generation), 'reconciliation');
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
 * A soft-deleted user's last attributes. When they are unusable the mirror keeps the ones it has:
 * the soft delete is the fact that matters, and it is applied all the same.
 */
function mirrorFrom(ctx: CycleContext, id: string, raw: Record<string, unknown>, generation: number): void {
  const parsed = userAttributes(selected(ctx, raw));
  if ('problem' in parsed) {
    ctx.log.warn(
      { cycleId: ctx.cycleId, entraId: id, problem: parsed.problem },
      'soft-deleted user has unusable data',
    );
    return;
  }
  ctx.store.mirror.upsertUser(id, parsed.attributes, false, generation);
}
