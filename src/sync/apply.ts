import { readScimValue } from '../mapping/index.js';
import type { PlannedAction } from '../plan/types.js';
import { LinkConflictError } from '../store/index.js';
import type { CycleContext } from './context.js';

export type Outcome = 'applied' | 'staged' | 'failed';

export function userNameOf(action: PlannedAction): string | null {
  if ('resource' in action) {
    const v = readScimValue(action.resource, 'userName');
    if (typeof v === 'string') return v;
  }
  if (action.kind === 'error') return action.userName;
  return 'row' in action && action.row ? action.row.userName : null;
}

/**
 * Writes one planned action and its audit row, inside the caller's transaction and in a savepoint
 * of its own, so a store that rejects one user's values fails that user and nothing else.
 * Disables and deletes are staged instead (mode 'stage'): the deletion threshold decides on them
 * at the end of the cycle (staged-changes.ts), which applies them with mode 'direct'.
 */
export function applyAction(
  ctx: CycleContext,
  action: PlannedAction,
  mode: 'stage' | 'direct' = 'stage',
): { action: PlannedAction; outcome: Outcome } {
  const { store } = ctx;
  if (mode === 'stage' && isStaged(action)) {
    store.staged.stage(action.entraId, ctx.cycleId, action.kind, userNameOf(action));
    ctx.onAction?.(action);
    return { action, outcome: 'staged' };
  }
  let applied: PlannedAction = action;
  let userId = rowIdOf(action);
  try {
    userId = store.transaction(() => write(ctx, action)) ?? userId;
  } catch (error) {
    applied = {
      kind: 'error',
      entraId: action.entraId,
      row: 'row' in action ? action.row : null,
      reason:
        error instanceof LinkConflictError
          ? `cannot link: ${error.message}`
          : `the store rejected the change: ${(error as Error).message}`,
      userName: userNameOf(action),
    };
  }
  record(ctx, applied, userId, mode === 'stage');
  return { action: applied, outcome: applied.kind === 'error' ? 'failed' : 'applied' };
}

/**
 * Applies a batch of planned actions (staging disables and deletes): all the writes in one
 * savepoint, then the audit rows. A savepoint per user cost more than the user's own row; when the
 * store rejects any write of the batch, the savepoint is rolled back and every action is applied
 * again on its own (applyAction), so one user's bad values still fail only that user.
 */
export function applyBatch(
  ctx: CycleContext,
  actions: readonly PlannedAction[],
): { action: PlannedAction; outcome: Outcome }[] {
  const { store } = ctx;
  let userIds: (string | null)[];
  try {
    userIds = store.transaction(() =>
      actions.map((action) => (isStaged(action) ? null : (write(ctx, action) ?? rowIdOf(action)))),
    );
  } catch {
    return actions.map((action) => applyAction(ctx, action));
  }
  return actions.map((action, i) => {
    if (isStaged(action)) return applyAction(ctx, action);
    record(ctx, action, userIds[i]!, true);
    return { action, outcome: action.kind === 'error' ? 'failed' : 'applied' };
  });
}

/** Disables and deletes wait for the deletion threshold at the end of the cycle. */
const isStaged = (action: PlannedAction): action is Extract<PlannedAction, { kind: 'disable' | 'delete' }> =>
  action.kind === 'disable' || action.kind === 'delete';

/** The id of the store row an action is about, if it has one already. */
const rowIdOf = (action: PlannedAction): string | null =>
  'row' in action && action.row ? action.row.id : null;

/** Returns the id of the row created, if any. */
function write(ctx: CycleContext, action: PlannedAction): string | null {
  const { users, mirror, staged } = ctx.store;
  let created: string | null = null;
  switch (action.kind) {
    case 'create':
      created = users.insert(action.entraId, action.resource).id;
      break;
    case 'link':
      // Conditional: throws LinkConflictError if the row was linked since it was planned.
      users.link(action.row, action.resource, action.entraId);
      break;
    case 'update':
    case 'disable':
    case 'enable':
      users.update(action.row, action.resource);
      break;
    case 'delete':
      users.delete(action.row.id);
      break;
    case 'skip':
    case 'error':
      break;
  }
  if (action.release !== undefined) mirror.setReleased(action.entraId, action.release);
  if (action.kind !== 'error') staged.remove(action.entraId);
  return created;
}

/** Audit row and log line for one change; `report` passes it to the cycle's listener (dry run). */
export function record(ctx: CycleContext, action: PlannedAction, userId: string | null, report = true): void {
  if (report) ctx.onAction?.(action);
  // Quiet skips (unchanged users, users out of scope never provisioned) are not changes.
  if (action.kind === 'skip' && action.quiet) return;
  ctx.counts[action.kind]++;
  const userName = userNameOf(action);
  const modified = 'modified' in action ? action.modified : [];
  const reason = action.kind === 'skip' || action.kind === 'error' ? action.reason : null;
  const status = action.kind === 'error' ? 'failure' : action.kind === 'skip' ? 'skipped' : 'success';
  ctx.store.audit.append({
    cycleId: ctx.cycleId,
    action: action.kind,
    status,
    entraId: action.entraId,
    userId,
    userName,
    modified,
    reason,
  });
  const line = {
    cycleId: ctx.cycleId,
    action: action.kind,
    userName,
    entraId: action.entraId,
    ...(modified.length ? { modified: modified.map((m) => m.target) } : {}),
    ...(reason ? { reason } : {}),
  };
  if (action.kind === 'error') ctx.log.warn(line, 'change failed');
  else ctx.log.info(line, action.kind === 'skip' ? 'skipped' : 'change');
}
