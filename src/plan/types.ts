import type {
  CompiledMappings,
  EvaluationContext,
  ModifiedProperty,
  ScimUserResource,
} from '../mapping/index.js';
import type { MirroredUser, StoreUser } from '../store/index.js';

/** Everything known about one Entra user when it is planned. */
export interface UserFacts {
  entraId: string;
  /** The mirror of Graph; null when Graph never listed the user. */
  source: MirroredUser | null;
  /** Graph reported `@removed: deleted` in this round. */
  hardDeleted: boolean;
  inScope: boolean;
  /** The store row linked to this Entra user, if any. */
  linked: StoreUser | null;
  /** The user's app-role assignments; read only when the mappings use them. */
  appRoles?: { appRoleId: string; value: string | null; displayName: string | null }[];
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
  /** The mirror's `released` flag after this action, when it changes (see planUser). */
  release?: boolean;
}

/** Provisioning actions, named as in Entra's provisioning logs where they exist. */
export type PlannedAction =
  | (Base & { kind: 'create'; resource: ScimUserResource })
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
  | (Base & { kind: 'skip'; row: StoreUser | null; reason: string; quiet: boolean })
  | (Base & { kind: 'error'; row: StoreUser | null; reason: string; userName: string | null });

export type ActionKind = PlannedAction['kind'];
