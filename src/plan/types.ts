import type {
  CompiledMappings,
  EvaluationContext,
  ModifiedProperty,
  ScimUserResource,
  SourceInput,
} from '../mapping/index.js';

/** What Graph last said about a user, as far as planning reads it (the store's mirror conforms). */
export interface SourceUser {
  attributes: SourceInput['attributes'];
  softDeleted: boolean;
  /** The user left scope and was disabled: Entra no longer manages it until it is back in scope. */
  released: boolean;
}

/**
 * A row of the application's `users` table: linked to Entra (externalId set) or a local user of the
 * application. The planner reads it and its actions carry it back to the store, which returns this
 * shape.
 */
export interface StoreUser {
  id: string;
  externalId: string | null;
  userName: string;
  displayName: string | null;
  email: string | null;
  active: boolean;
  /**
   * The application's say on linking (README, "Matching and linking"): false never links, true may
   * always be linked, null follows matching.linkOnlyWhere.
   */
  linkable: boolean | null;
  /** The SCIM resource as last written, with the plain columns folded in. */
  resource: ScimUserResource;
  createdAt: string;
  updatedAt: string;
}

/** Everything known about one Entra user when it is planned. */
export interface UserFacts {
  entraId: string;
  /** The mirror of Graph; null when Graph never listed the user. */
  source: SourceUser | null;
  /** Graph reported `@removed: deleted` in this round. */
  hardDeleted: boolean;
  inScope: boolean;
  /** The store row linked to this Entra user, if any. */
  linked: StoreUser | null;
  /** The user's app-role assignments; read only when the mappings use them. */
  appRoles?: { appRoleId: string; value: string | null; displayName: string | null }[];
  /** How the user is in scope: assigned directly, through a group, or (scope: all) everyone. */
  scopeVia?: 'assignment' | 'group' | 'all' | null;
  /** The group the user last left while it gave scope (its id; the store keeps no group names). */
  leftGroup?: string | null;
  /**
   * The manager `source` names (its Entra id) and the local id of the row linked to it (null: the
   * manager has no row); absent when the source names no manager.
   */
  manager?: { entraId: string; rowId: string | null };
}

/** Who holds a userName: a store row, or (id null) a row created earlier in the same batch. */
export interface UserNameOwner {
  id: string | null;
  externalId: string | null;
  userName: string;
  linkable: boolean | null;
}

/** Read-only questions the planner may ask of the store. */
export interface StoreLookup {
  /** Rows not linked to Entra whose `target` value equals `value`. */
  unlinkedBy(target: string, value: string): StoreUser[];
  /** The row holding this userName (ASCII case-insensitive, as the store's index), linked or not. */
  byUserName(userName: string): UserNameOwner | null;
}

/**
 * Which unlinked rows matching may link (matching.linkOnlyWhere): `any` every row but those the
 * application marked `linkable = 0`; `linkable` only those it marked `linkable = 1`.
 */
export type LinkOnlyWhere = 'any' | 'linkable';

export interface PlanSettings {
  mappings: CompiledMappings;
  actions: { create: boolean; update: boolean; delete: boolean };
  evaluation: EvaluationContext;
  linkOnlyWhere: LinkOnlyWhere;
}

interface Base {
  entraId: string;
  /**
   * Why, for the audit row: a machine-readable code (`unassigned`, `disabled-in-entra`,
   * `left-group:<id>`, …, README "Reading the audit") and the sentence `reason` says it in.
   */
  code: string;
  reason: string;
  /** The mirror's `released` flag after this action, when it changes (see planUser). */
  release?: boolean;
}

/** Provisioning actions, named as in Entra's provisioning logs where they exist. */
export type PlannedAction =
  /** `modified`: every attribute the create sets, old value null (Entra's Modified Properties). */
  | (Base & { kind: 'create'; resource: ScimUserResource; modified: ModifiedProperty[] })
  | (Base & {
      kind: 'link';
      row: StoreUser;
      resource: ScimUserResource;
      modified: ModifiedProperty[];
      matchedOn: string;
    })
  | (Base & {
      kind: 'update' | 'disable' | 'enable';
      row: StoreUser;
      resource: ScimUserResource;
      modified: ModifiedProperty[];
    })
  | (Base & { kind: 'delete'; row: StoreUser })
  | (Base & {
      kind: 'skip';
      row: StoreUser | null;
      quiet: boolean;
      /** Audited the first time only (a user skipped at first sight, seen again each full round). */
      once?: boolean;
      /** The userName a user skipped at first sight would have had. */
      userName?: string | null;
    })
  | (Base & { kind: 'error'; row: StoreUser | null; userName: string | null });

export type ActionKind = PlannedAction['kind'];
