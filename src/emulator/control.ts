import type { AssignmentRecord, PrincipalType } from './assignments.js';
import { bulkGroupsPlan, type BulkGroupsSpec } from './bulk-groups.js';
import type { DeltaTokens } from './delta-tokens.js';
import type { Directory } from './directory.js';
import type { FaultSpec, Faults } from './faults.js';
import type { GroupRecord } from './groups.js';
import type { AppRoleDefinition, FederatedIssuer, Identity } from './identity.js';
import type { LoggedRequest, RequestLog } from './request-log.js';
import type { UserRecord } from './users.js';

/** In-process control of the emulated tenant; /_ctl exposes the same operations over HTTP. */
export interface TenantControl {
  createUser(u: Partial<UserRecord> & { userPrincipalName: string }): UserRecord;
  updateUser(id: string, patch: Record<string, unknown>): UserRecord;
  softDeleteUser(id: string): void;
  restoreUser(id: string): UserRecord;
  hardDeleteUser(id: string): void;
  getUser(id: string): UserRecord | undefined;
  /** Id of the user in slot `index` (bulkCreateUsers returns slot numbers). */
  userIdAt(index: number): string;
  createGroup(g: {
    displayName: string;
    id?: string;
    members?: string[];
    [property: string]: unknown;
  }): GroupRecord;
  updateGroup(id: string, patch: Record<string, unknown>): GroupRecord;
  deleteGroup(id: string): void;
  getGroup(id: string): GroupRecord | undefined;
  addMember(groupId: string, memberId: string): void;
  removeMember(groupId: string, memberId: string): void;
  assign(principalId: string, principalType: PrincipalType, appRoleId?: string): AssignmentRecord;
  /** Removes one role's assignment, or every assignment of the principal when no role is given. */
  unassign(principalId: string, appRoleId?: string): void;
  /** Sets the user's manager (a user id), or removes it with null. */
  setManager(userId: string, managerId: string | null): void;
  /** The user's manager while that user is active, as GET /users/{id}/manager returns it. */
  getManager(userId: string): UserRecord | undefined;
  bulkCreateUsers(
    n: number,
    opts?: { assignEvery?: number; prefix?: string },
  ): { first: number; count: number };
  /** Groups over a bulk range (bench tenants): see bulk-groups.ts. Returns the group ids. */
  bulkCreateGroups(spec: BulkGroupsSpec): { ids: string[] };
  setFaults(f: FaultSpec): void;
  clearFaults(): void;
  expireDeltaTokens(): void;
  resetDeltaTokens(): void;
  /**
   * Every access token issued so far is rejected with 401 InvalidAuthenticationToken, as Graph does
   * after a revocation or a signing-key rollover; tokens issued afterwards are accepted.
   */
  revokeTokens(): void;
  /** Adds app roles to the app; tokens issued afterwards carry them (existing tokens keep theirs). */
  grantPermissions(roles: string[]): void;
  /** Replaces the app's granted roles. */
  setPermissions(roles: string[]): void;
  revokePermissions(roles: string[]): void;
  /** Returns the certificate's SHA-256 thumbprint (hex), as msal's `thumbprintSha256` wants it. */
  registerCertificate(pem: string): string;
  registerFederatedIssuer(f: FederatedIssuer): void;
  /** Defines the enterprise app's app roles (returned in servicePrincipal.appRoles). */
  setAppRoles(roles: AppRoleDefinition[]): void;
  requests(): LoggedRequest[];
  clearRequests(): void;
}

export function createControl(
  dir: Directory,
  identity: Identity,
  faults: Faults,
  tokens: DeltaTokens,
  log: RequestLog,
): TenantControl {
  return {
    createUser: (u) => dir.createUser(u),
    updateUser: (id, patch) => dir.updateUser(id, patch),
    softDeleteUser: (id) => dir.softDeleteUser(id),
    restoreUser: (id) => dir.restoreUser(id),
    hardDeleteUser: (id) => dir.hardDeleteUser(id),
    getUser: (id) => dir.getUser(id),
    userIdAt: (i) => dir.userIdAt(i),
    createGroup: (g) => dir.createGroup(g),
    updateGroup: (id, patch) => dir.updateGroup(id, patch),
    deleteGroup: (id) => dir.deleteGroup(id),
    getGroup: (id) => dir.getGroup(id),
    addMember: (g, m) => dir.addMember(g, m),
    removeMember: (g, m) => dir.removeMember(g, m),
    assign: (p, t, r) => dir.assign(p, t, r),
    unassign: (p, r) => dir.unassign(p, r),
    setManager: (u, m) => dir.setManager(u, m),
    getManager: (u) => dir.getManager(u),
    bulkCreateUsers: (n, o) => dir.bulkCreateUsers(n, o),
    bulkCreateGroups: (spec) => {
      const { members } = bulkGroupsPlan(spec);
      const ids = members.map((slots, g) => {
        const group = dir.createGroup({
          displayName: `Bulk group ${String(g).padStart(4, '0')}`,
          members: slots.map((i) => dir.userIdAt(spec.first + i)),
        });
        if (spec.assign) dir.assign(group.id, 'Group');
        return group.id;
      });
      return { ids };
    },
    setFaults: (f) => faults.set(f),
    clearFaults: () => faults.clear(),
    expireDeltaTokens: () => tokens.expireAll(),
    resetDeltaTokens: () => tokens.resetAll(),
    revokeTokens: () => identity.revokeIssuedTokens(),
    setAppRoles: (roles) => {
      identity.appRoles = roles.map((r) => ({
        allowedMemberTypes: ['User'],
        isEnabled: true,
        description: r.displayName,
        ...r,
      }));
    },
    grantPermissions: (roles) => roles.forEach((r) => identity.permissions.add(r)),
    setPermissions: (roles) => {
      identity.permissions = new Set(roles);
    },
    revokePermissions: (roles) => roles.forEach((r) => identity.permissions.delete(r)),
    registerCertificate: (pem) => identity.registerCertificate(pem),
    registerFederatedIssuer: (f) => identity.registerFederatedIssuer(f),
    requests: () => log.list(),
    clearRequests: () => log.clear(),
  };
}
