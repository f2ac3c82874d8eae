import { createHash } from 'node:crypto';

export type PrincipalType = 'User' | 'Group' | 'ServicePrincipal';
export const DEFAULT_APP_ROLE = '00000000-0000-0000-0000-000000000000';

export interface AssignmentRecord {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType: PrincipalType;
  principalDisplayName?: string;
  createdDateTime: string;
}

/** Graph's appRoleAssignment ids are 43-character base64url strings, not GUIDs. */
export function assignmentId(principalId: string, appRoleId: string): string {
  return createHash('sha256').update(`${principalId}|${appRoleId}`).digest('base64url').slice(0, 43);
}

/** Key of an explicit assignment: a principal holds one assignment per app role. */
export const assignmentKey = (principalId: string, appRoleId: string) => `${principalId}|${appRoleId}`;

/**
 * Explicit assignments, plus the switch-offs of bulk ranges' implicit ones (a bulk range with
 * assignEvery assigns its users without storing a record per user).
 */
export class Assignments {
  readonly explicit = new Map<string, AssignmentRecord>();
  readonly virtualOff = new Set<number>();

  /** Drops every explicit assignment of the principal; whether there was any. */
  removePrincipal(principalId: string): boolean {
    let had = false;
    for (const [key, a] of this.explicit)
      if (a.principalId === principalId) {
        this.explicit.delete(key);
        had = true;
      }
    return had;
  }
}
