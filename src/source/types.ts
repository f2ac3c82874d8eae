/** What the source readers hand to the sync stage: Graph's answers, validated, one item at a time. */

export type AttributeValue = string | number | boolean | null | string[] | Record<string, unknown>;

export type UserChange =
  | { kind: 'upsert'; id: string; attributes: Record<string, AttributeValue> }
  | { kind: 'removed'; id: string; reason: 'changed' | 'deleted' }
  | {
      kind: 'invalid';
      id: string | null;
      problem: string;
      /** `accountEnabled: false` of an otherwise unusable user: a decisive fact, still applied. */
      disabled?: true;
    };

export interface MemberChange {
  id: string;
  type: 'user' | 'group' | 'other';
  removed: boolean;
}

/**
 * One malformed element of an otherwise usable answer (a group member, an assignment): it fails
 * alone. `key` identifies it, so that it is reported once, not every cycle that lists it again.
 */
export interface BadElement {
  key: string;
  /** The Entra id it concerns, when it has a valid one. */
  entraId: string | null;
  problem: string;
}

export type GroupChange =
  | {
      kind: 'upsert';
      id: string;
      members: MemberChange[];
      bad: BadElement[];
      /** The group's own properties, when they are kept (group provisioning) and usable. */
      displayName?: string | null;
      attributes?: Record<string, AttributeValue>;
    }
  | { kind: 'removed'; id: string }
  | { kind: 'invalid'; id: string | null; problem: string };

export interface Assignment {
  principalId: string;
  principalType: 'User' | 'Group' | 'ServicePrincipal';
  /** 00000000-0000-0000-0000-000000000000 is "default access" (no specific role). */
  appRoleId: string;
}

export interface AppRole {
  id: string;
  value: string | null;
  displayName: string | null;
}

/** One page of a delta round; only the last page of a round carries the deltaLink. */
export interface DeltaPage<T> {
  items: T[];
  deltaLink?: string;
}
