/**
 * The SQL of group memberships both stores share (`t` prefixes table names: the PostgreSQL schema,
 * nothing on SQLite). pending_groups.members: 0 nothing to do; 1 the group's Entra memberships
 * changed; 2 changed, and (with nested groups expanded) its ancestors have been marked too, so a
 * settle interrupted between calls neither loses an ancestor nor marks it again for ever in a cycle.
 */
import type { AuditDraft } from '../plan/audit-entry.js';
import type { GroupActionWrite, StoreGroup } from './interface.js';

/**
 * Marks 2 every group with a mark 1 and every ancestor of one (through member_type 'group' edges of
 * the mirror). UNION, not UNION ALL: a cycle in the nesting ends when no new group is reached.
 */
export const markAncestorsSql = (t: string) =>
  `WITH RECURSIVE up(id) AS (
     SELECT entra_id FROM ${t}pending_groups WHERE members = 1
     UNION SELECT gm.group_id FROM ${t}entra_group_members gm JOIN up ON gm.member_id = up.id
       WHERE gm.member_type = 'group')
   INSERT INTO ${t}pending_groups (entra_id, members) SELECT id, 2 FROM up WHERE true
   ON CONFLICT (entra_id) DO UPDATE SET members = 2`;

/**
 * (group_id, user_id) pairs a batch of groups should have: `batch` is a relation of (entra_id,
 * group_id) with group_id the local group to maintain (NULL: not maintained). Members are linked
 * users listed by the mirror directly, or also through nested groups (cycle-safe: UNION).
 */
export function desiredMembersSql(t: string, batch: string, nested: boolean): string {
  const users = (reach: string) =>
    `SELECT DISTINCT b.group_id, u.id AS user_id FROM ${reach}
       JOIN ${t}entra_group_members gm ON gm.group_id = r.gid AND gm.member_type = 'user'
       JOIN ${t}users u ON u.external_id = gm.member_id`;
  if (!nested)
    return users(`(SELECT entra_id AS gid, entra_id AS root FROM ${batch} WHERE group_id IS NOT NULL) r
       JOIN ${batch} b ON b.entra_id = r.root`);
  return `WITH RECURSIVE reach(root, gid) AS (
      SELECT entra_id, entra_id FROM ${batch} WHERE group_id IS NOT NULL
      UNION SELECT r.root, gm.member_id FROM reach r
        JOIN ${t}entra_group_members gm ON gm.group_id = r.gid AND gm.member_type = 'group')
    ${users(`reach r JOIN ${batch} b ON b.entra_id = r.root`)}`;
}

/** Audit rows of membership changes: action, reason code and sentence. */
export const MEMBER_AUDIT = {
  add: { action: 'add-member', code: 'member-added', reason: 'a member of the Entra group' },
  remove: {
    action: 'remove-member',
    code: 'member-removed',
    reason: 'no longer a member of the Entra group',
  },
} as const;

/** A group's action audited as a group's row: the local group named, unless the planner did. */
export function groupAudit(
  w: GroupActionWrite,
  draft: AuditDraft,
  groupId: string | null,
  groupName: string | null,
): AuditDraft {
  return {
    ...draft,
    entraId: draft.entraId ?? w.entraId,
    objectType: 'group',
    groupId: draft.groupId ?? groupId,
    groupName: draft.groupName ?? groupName,
  };
}

/** The error row of a group action the store rejected. */
export function rejectedGroupAudit(
  w: GroupActionWrite,
  cycleId: string,
  error: unknown,
  groupId: string | null,
): AuditDraft {
  const message = (error as Error).message;
  const draft = w.audit ?? {
    cycleId,
    action: w.kind,
    status: 'failure' as const,
    entraId: w.entraId,
    userId: null,
    userName: null,
    modified: [],
    reasonCode: null,
    reason: null,
  };
  const conflict = error instanceof GroupLinkConflict;
  return groupAudit(
    w,
    {
      ...draft,
      cycleId,
      action: 'error',
      status: 'failure',
      modified: [],
      reasonCode: conflict ? 'link-conflict' : 'store-rejected',
      reason: conflict ? `cannot link: ${message}` : `the store rejected the change: ${message}`,
    },
    groupId,
    'displayName' in w ? w.displayName : null,
  );
}

/** A link or update the store refused: the row is gone, or was linked meanwhile. */
export class GroupLinkConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GroupLinkConflict';
  }
}

export interface GroupRow {
  id: string;
  external_id: string | null;
  display_name: string;
  scim: string;
  created_at: string;
  updated_at: string;
}

export const toStoreGroup = (r: GroupRow): StoreGroup => ({
  id: r.id,
  externalId: r.external_id,
  displayName: r.display_name,
  resource: JSON.parse(r.scim) as Record<string, unknown>,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface SourceGroupRow {
  entra_id: string;
  display_name: string | null;
  attributes: string;
  removed: number;
}
