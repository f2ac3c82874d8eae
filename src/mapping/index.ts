/** Public API of the attribute-mapping stage (pure: values in, values out). */
export {
  checkExpression,
  compileMappings,
  evaluateExpression,
  mappingDefinitionSchema,
  type CompiledMappings,
} from './compile.js';
export { ExpressionError, MappingConfigError, MappingEvaluationError } from './errors.js';
export { projectMappings, readScimValue } from './project.js';
export { appRoleReaders } from './roles-mapping.js';
export { ENTERPRISE_SCHEMA, USER_SCHEMA } from './scim-path.js';
export {
  compileGroupFilter,
  compileGroupMappings,
  DEFAULT_GROUP_MAPPINGS,
  GROUP_SCHEMA,
  groupFilterAttributes,
  projectGroup,
  type CompiledGroupMappings,
  type GroupEvaluation,
} from './group-mappings.js';
import type { MappingDefinition } from './types.js';

export type {
  AppRoleAssignmentInput,
  EvaluatedMapping,
  EvaluationContext,
  MappingDefinition,
  ModifiedProperty,
  ScimRole,
  ScimUserResource,
  ScimValue,
  SourceInput,
} from './types.js';
export { functionNames } from './functions/registry.js';

/** Entra's default attribute mappings for SCIM apps. */
export const DEFAULT_MAPPINGS: readonly MappingDefinition[] = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
  { target: 'emails[type eq "work"].value', direct: 'mail' },
  { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
  { target: 'displayName', direct: 'displayName' },
];
