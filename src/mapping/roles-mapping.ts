/**
 * The rules of a mapping to the user's app roles (docs/expressions.md, "App roles"): `roles` is fed
 * only by AppRoleAssignmentsComplex (or its Assertive form) and the primary role's parts only by
 * SingleAppRoleAssignment, as the whole expression. Entra says roles "need expressions"
 * (graph-semantics §6.6); anything else would write a list of roles the user does not hold, or text where
 * role objects belong. No default value (a role nobody assigned) and no matching on roles.
 */
import { walk, type Node } from './ast.js';
import { APP_ROLE_ASSIGNMENTS, PRIMARY_ROLE_FUNCTIONS, ROLES_FUNCTIONS } from './functions/context.js';
import { lookupFunction } from './functions/registry.js';
import { parseExpression } from './parser.js';
import type { TargetPath } from './scim-path.js';
import type { MappingDefinition } from './types.js';

export interface RolesProblem {
  field: 'direct' | 'constant' | 'expression' | 'defaultValue' | 'matchingPrecedence';
  message: string;
}

export function rolesMappingProblem(
  path: Extract<TargetPath, { kind: 'roles' | 'primaryRole' }>,
  def: MappingDefinition,
  tree: Node | null,
): RolesProblem | null {
  const whole = path.kind === 'roles';
  const allowed = whole ? ROLES_FUNCTIONS : PRIMARY_ROLE_FUNCTIONS;
  const use = `use expression: ${allowed[0]}([appRoleAssignments])`;
  const what = whole ? 'roles takes every role the user holds' : `${path.canonical} takes one role`;
  const field = def.direct !== undefined ? 'direct' : def.constant !== undefined ? 'constant' : 'expression';
  if (!tree || tree.type !== 'call' || !allowed.includes(tree.name))
    return { field, message: `${what}: ${use}` };
  if (def.defaultValue !== undefined)
    return { field: 'defaultValue', message: `${what} from Entra; a default value is no role: remove it` };
  if (def.matchingPrecedence !== undefined)
    return { field: 'matchingPrecedence', message: 'roles cannot be a matching attribute' };
  return null;
}

/**
 * The mappings that read the user's app roles, named for an error: with scope `all` no assignment is
 * listed, so they would remove every role (graph-semantics §6.3: Entra rejects these mappings with
 * "Sync all"). Expressions that do not parse are left to the mapping check, which names them.
 */
export function appRoleReaders(defs: readonly MappingDefinition[]): string[] {
  const readers: string[] = [];
  defs.forEach((def, i) => {
    const names = new Set<string>();
    if (def.direct?.trim().toLowerCase() === APP_ROLE_ASSIGNMENTS.toLowerCase())
      names.add('[appRoleAssignments]');
    if (def.expression !== undefined) {
      try {
        walk(parseExpression(def.expression), (n) => {
          if (n.type === 'attribute' && n.name.toLowerCase() === APP_ROLE_ASSIGNMENTS.toLowerCase())
            names.add('[appRoleAssignments]');
          const fn = n.type === 'call' ? lookupFunction(n.name)?.name : undefined;
          if (fn && [...ROLES_FUNCTIONS, ...PRIMARY_ROLE_FUNCTIONS].includes(fn)) names.add(fn);
        });
      } catch {
        // reported by the mapping check
      }
    }
    if (names.size > 0)
      readers.push(`mappings[${i}] (target "${def.target}", ${[...names].sort().join(', ')})`);
  });
  return readers;
}
