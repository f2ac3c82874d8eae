import { auditEntryOf, isStageable, rowIdOf, userNameOf, type AuditDraft } from '../plan/audit-entry.js';
import type { AuditLog } from './audit.js';
import type { GroupTables } from './groups.js';
import type { ActionWrite, AppliedAction, MirrorWrite, WriteBatch } from './interface.js';
import type { PendingQueue, RetrySpacing } from './pending.js';
import type { SourceUsers } from './source-users.js';
import type { StagedChanges } from './staged.js';
import { onceKey, type SyncState } from './state.js';
import { rejectedAction, type UserTable } from './users.js';

export interface BatchTables {
  users: UserTable;
  sourceUsers: SourceUsers;
  pending: PendingQueue;
  staged: StagedChanges;
  audit: AuditLog;
  state: Pick<SyncState, 'firstReport'>;
  groups: Pick<GroupTables, 'markGroupsOfUser'>;
  /** Runs `fn` in a savepoint (a transaction when none is open). */
  savepoint<T>(fn: () => T): T;
}

/**
 * WriteBatch on SQLite, synchronous, inside the caller's transaction. All the actions' writes go
 * in one savepoint: a savepoint per user cost more than the user's own row. When the store rejects
 * any of them, that savepoint is rolled back and each action is written in a savepoint of its own,
 * so one user's bad values fail only that user.
 */
export function applyBatchSqlite(t: BatchTables, batch: WriteBatch): AppliedAction[] {
  for (const w of batch.mirror ?? []) applyMirrorWrite(t, w, batch.cycleId, batch.retry);
  const writes = batch.actions ?? [];
  let results: AppliedAction[];
  try {
    results = t.savepoint(() => writes.map((w) => writeAction(t, w, batch.cycleId)));
  } catch {
    results = writes.map((w) => writeAlone(t, w, batch.cycleId));
  }
  const audit: AuditDraft[] = [...(batch.audit ?? [])];
  results.forEach((r, i) => {
    const entry = r.outcome === 'staged' ? null : auditEntryOf(batch.cycleId, r.action, r.userId);
    if (entry) audit.push(entry);
    settle(t, writes[i]!, r, batch.cycleId, batch.retry);
    // A user row just linked becomes a member of the groups that list it (group_members).
    if (r.outcome === 'applied' && (r.action.kind === 'create' || r.action.kind === 'link'))
      t.groups.markGroupsOfUser(r.action.entraId);
  });
  for (const entry of audit) t.audit.append(entry);
  for (const w of batch.after ?? []) applyMirrorWrite(t, w, batch.cycleId, batch.retry);
  return results;
}

function applyMirrorWrite(t: BatchTables, w: MirrorWrite, cycleId: string, retry: RetrySpacing): void {
  switch (w.op) {
    case 'upsert':
      return t.sourceUsers.upsert(w.entraId, w.attributes, w.generation);
    case 'softDelete':
      return t.sourceUsers.softDelete(w.entraId, w.generation);
    case 'hardDelete':
      return t.sourceUsers.markHardDeleted(w.entraId);
    case 'keepUnusable':
      return t.sourceUsers.keepUnusable(w.entraId, w.generation, w.disabled);
    case 'usableAgain':
      return t.pending.usableAgain(w.entraId);
    case 'fail':
      return t.pending.fail(w.entraId, cycleId, w.error, retry);
  }
}

/** One action's writes; throws when the store rejects them. */
function writeAction(t: BatchTables, { action, stage }: ActionWrite, cycleId: string): AppliedAction {
  if (stage && isStageable(action)) {
    t.staged.stage(action.entraId, cycleId, action.kind, userNameOf(action));
    return { action, outcome: 'staged', userId: rowIdOf(action) };
  }
  let userId = rowIdOf(action);
  switch (action.kind) {
    case 'create':
      userId = t.users.insert(action.entraId, action.resource).id;
      break;
    case 'link':
      // Conditional: throws LinkConflictError if the row was linked since it was planned.
      t.users.link(action.row, action.resource, action.entraId);
      break;
    case 'update':
    case 'disable':
    case 'enable':
      t.users.update(action.row, action.resource);
      break;
    case 'delete':
      t.users.delete(action.row.id);
      break;
    case 'skip':
      // Audited the first time only: later, the same skip is a quiet one.
      if (action.once && !action.quiet && !t.state.firstReport(onceKey(action.entraId, action.code)))
        action = { ...action, quiet: true };
      break;
    case 'error':
      break;
  }
  if (action.release !== undefined) t.sourceUsers.setReleased(action.entraId, action.release);
  if (action.kind !== 'error') t.staged.remove(action.entraId);
  return { action, outcome: action.kind === 'error' ? 'failed' : 'applied', userId };
}

/** An action in a savepoint of its own: a rejected write becomes that user's error. */
function writeAlone(t: BatchTables, w: ActionWrite, cycleId: string): AppliedAction {
  try {
    return t.savepoint(() => writeAction(t, w, cycleId));
  } catch (error) {
    return { action: rejectedAction(w.action, error), outcome: 'failed', userId: rowIdOf(w.action) };
  }
}

/**
 * After an action: a failed user stays pending with growing spacing (escrow); the others leave the
 * pending list; a hard-deleted user leaves the mirror once its delete was applied or skipped.
 */
function settle(
  t: BatchTables,
  w: ActionWrite,
  r: AppliedAction,
  cycleId: string,
  retry: RetrySpacing,
): void {
  if (r.outcome === 'failed') {
    t.pending.fail(r.action.entraId, cycleId, r.action.kind === 'error' ? r.action.reason : 'failed', retry);
    return;
  }
  t.pending.clear(r.action.entraId);
  if (w.forgetWhenApplied && r.outcome === 'applied') t.sourceUsers.forget(r.action.entraId);
}
