/** Public data types of the mapping stage. */

/** One configured attribute mapping (YAML list under `mappings:`); exactly one of direct | constant | expression. */
export interface MappingDefinition {
  /** SCIM path, e.g. userName, emails[type eq "work"].value, urn:…:enterprise:2.0:User:department */
  target: string;
  /** Entra attribute name. */
  direct?: string;
  constant?: string;
  expression?: string;
  /** Used when the source is null, on create only. */
  defaultValue?: string;
  /** Default `always`. */
  apply?: 'always' | 'create-only';
  /** 1, 2, … — the mapping is a matching attribute, tried in ascending order. */
  matchingPrecedence?: number;
}

export interface AppRoleAssignmentInput {
  appRoleId: string;
  value?: string | null;
  displayName?: string | null;
}

export interface SourceInput {
  /** Entra attributes as last seen (string | boolean | number | string[] | null; absent = null). */
  attributes: Record<string, unknown>;
  /** `[IsSoftDeleted]` yields the string "True"/"False". */
  isSoftDeleted: boolean;
  appRoleAssignments?: AppRoleAssignmentInput[];
}

export interface EvaluationContext {
  /** Now() uses it. */
  now: () => Date;
  /** DefaultDomain(). */
  defaultDomain?: string;
  /** SelectUniqueValue: true when `value` is not yet used for `target` in the local store. */
  isUniqueInTarget?: (target: string, value: string) => boolean;
  /** Guid/RandomString, injectable for tests; defaults to Math.random. */
  random?: () => number;
  /**
   * Optional (addition to the agreed API): when 'update', create-only mappings are not evaluated at all
   * (value null), so SelectUniqueValue/Guid/RandomString in them do not run on updates.
   */
  mode?: 'create' | 'update';
}

/** One element of the SCIM `roles` attribute (RFC 7643 §4.1.2), as AppRoleAssignmentsComplex gives it. */
export interface ScimRole {
  primary: boolean;
  type?: string;
  display?: string;
  value: string;
}

export type ScimValue = string | boolean | number | string[] | ScimRole[];

export interface EvaluatedMapping {
  target: string;
  /** Converted to the target's SCIM type; null = nothing flows. */
  value: ScimValue | null;
  defaultValue: ScimValue | null;
  apply: 'always' | 'create-only';
  /** IgnoreObjectFlow: the whole user must be skipped. */
  skipObject?: boolean;
}

/** { schemas, userName, displayName, active, emails:[…], name:{…}, 'urn:…:enterprise:2.0:User': {…} } — no id/meta. */
export type ScimUserResource = Record<string, unknown>;

export interface ModifiedProperty {
  target: string;
  oldValue: ScimValue | null;
  newValue: ScimValue | null;
}
