import { readScimValue } from '../mapping/index.js';
import type { PlannedAction } from './types.js';

/** One audit row, as the planner describes a change; the store stamps the time and sequence. */
export interface AuditDraft {
  cycleId: string;
  action: string;
  status: 'success' | 'failure' | 'skipped';
  entraId: string | null;
  userId: string | null;
  userName: string | null;
  modified: { target: string; oldValue: unknown; newValue: unknown }[];
  /** Why, machine-readable (README, "Reading the audit"), and as a sentence. */
  reasonCode: string | null;
  reason: string | null;
  /** 'group' for a group's rows (entraId the Entra group); absent or 'user' otherwise. */
  objectType?: 'user' | 'group';
  /** The local group a group or member row is about. */
  groupId?: string | null;
  groupName?: string | null;
}

/** The userName an action is about: the one it writes, else the row's. */
export function userNameOf(action: PlannedAction): string | null {
  if ('resource' in action) {
    const v = readScimValue(action.resource, 'userName');
    if (typeof v === 'string') return v;
  }
  if (action.kind === 'error') return action.userName;
  if (action.kind === 'skip' && action.userName !== undefined) return action.userName;
  return 'row' in action && action.row ? action.row.userName : null;
}

/**
 * Quiet skips (unchanged users, users out of scope never provisioned) are not changes: no row. A
 * `once` skip comes here quiet when the store had audited it already.
 */
export function auditEntryOf(
  cycleId: string,
  action: PlannedAction,
  userId: string | null,
): AuditDraft | null {
  if (action.kind === 'skip' && action.quiet) return null;
  return {
    cycleId,
    action: action.kind,
    status: action.kind === 'error' ? 'failure' : action.kind === 'skip' ? 'skipped' : 'success',
    entraId: action.entraId,
    userId,
    userName: userNameOf(action),
    modified: 'modified' in action ? action.modified : [],
    reasonCode: action.code,
    reason: action.reason,
  };
}

/** The id of the store row an action is about, if it has one already. */
export const rowIdOf = (action: PlannedAction): string | null =>
  'row' in action && action.row ? action.row.id : null;

/** Disables and deletes wait for the deletion threshold at the end of the cycle. */
export const isStageable = (
  action: PlannedAction,
): action is Extract<PlannedAction, { kind: 'disable' | 'delete' }> =>
  action.kind === 'disable' || action.kind === 'delete';
