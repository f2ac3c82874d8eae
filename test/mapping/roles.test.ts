/**
 * App roles as a mapping target: the SCIM `roles` attribute written whole from
 * AppRoleAssignmentsComplex, and the primary role from SingleAppRoleAssignment (docs/expressions.md,
 * "App roles"). Plain data: mappings compiled, evaluated and projected, no store.
 */
import { describe, expect, it } from 'vitest';
import {
  compileMappings,
  MappingConfigError,
  projectMappings,
  type AppRoleAssignmentInput,
  type MappingDefinition,
  type ScimUserResource,
} from '../../src/mapping/index.js';
import { parseTargetPath, TargetPathError } from '../../src/mapping/scim-path.js';

const USER_NAME: MappingDefinition = { target: 'userName', direct: 'userPrincipalName' };
const COMPLEX: MappingDefinition = {
  target: 'roles',
  expression: 'AppRoleAssignmentsComplex([appRoleAssignments])',
};
const TYPE = 'WindowsAzureActiveDirectoryRole';
const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';

const ADMIN: AppRoleAssignmentInput = { appRoleId: 'a1', value: 'Admin', displayName: 'Administrator' };
const READER: AppRoleAssignmentInput = { appRoleId: 'b2', value: 'Reader', displayName: 'Reader' };
const AUDITOR: AppRoleAssignmentInput = { appRoleId: 'c3', value: 'Auditor', displayName: null };

const role = (value: string, display?: string, primary = false) => ({
  primary,
  type: TYPE,
  ...(display === undefined ? {} : { display }),
  value,
});

/** Projects the mappings for a user holding `roles`, onto `existing` (update) or nothing (create). */
function project(
  defs: MappingDefinition[],
  roles: AppRoleAssignmentInput[],
  existing: ScimUserResource | null = null,
) {
  const compiled = compileMappings([USER_NAME, ...defs]);
  const mode = existing ? 'update' : 'create';
  const evaluated = compiled.evaluate(
    { attributes: { userPrincipalName: 'ada@contoso.com' }, isSoftDeleted: false, appRoleAssignments: roles },
    { now: () => new Date(0), mode },
  );
  return projectMappings(existing, evaluated, mode);
}

const configError = (defs: MappingDefinition[]): string => {
  try {
    compileMappings([USER_NAME, ...defs]);
  } catch (e) {
    if (e instanceof MappingConfigError) return e.message;
    throw e;
  }
  return 'no error';
};

describe('roles target paths', () => {
  it("roles, and the primary role's value, display and type, in any case, canonical spelling", () => {
    expect(parseTargetPath('Roles').canonical).toBe('roles');
    expect(parseTargetPath('roles[primary eq "true"].Value').canonical).toBe(
      'roles[primary eq "True"].value',
    );
    expect(parseTargetPath('ROLES[PRIMARY EQ "True"].display').canonical).toBe(
      'roles[primary eq "True"].display',
    );
    expect(parseTargetPath('roles[primary eq "True"].type').canonical).toBe('roles[primary eq "True"].type');
  });

  it('other roles paths say what is supported', () => {
    expect(() => parseTargetPath('roles[primary eq "False"].value')).toThrow(TargetPathError);
    expect(() => parseTargetPath('roles[type eq "work"].value')).toThrow(/roles/);
    expect(() => parseTargetPath('roles[primary eq "True"].primary')).toThrow(/value, display, type/);
    expect(() => parseTargetPath('roles.value')).toThrow(/roles/);
  });
});

describe('roles mappings are checked when compiled', () => {
  it('roles takes AppRoleAssignmentsComplex([appRoleAssignments]) and nothing else', () => {
    expect(configError([COMPLEX])).toBe('no error');
    for (const bad of [
      { target: 'roles', direct: 'appRoleAssignments' },
      { target: 'roles', constant: 'Admin' },
      { target: 'roles', expression: '[appRoleAssignments]' },
      { target: 'roles', expression: 'SingleAppRoleAssignment([appRoleAssignments])' },
      { target: 'roles', expression: 'Join(",", AppRoleAssignmentsComplex([appRoleAssignments]))' },
    ] as MappingDefinition[]) {
      expect(configError([bad])).toMatch(/mappings\[1\] \(target "roles"\).*AppRoleAssignmentsComplex/);
    }
  });

  it('the primary role takes SingleAppRoleAssignment([appRoleAssignments])', () => {
    expect(
      configError([
        {
          target: 'roles[primary eq "True"].value',
          expression: 'SingleAppRoleAssignment([appRoleAssignments])',
        },
      ]),
    ).toBe('no error');
    expect(configError([{ target: 'roles[primary eq "True"].value', direct: 'jobTitle' }])).toMatch(
      /SingleAppRoleAssignment/,
    );
    expect(
      configError([
        {
          target: 'roles[primary eq "True"].display',
          expression: 'AppRoleAssignmentsComplex([appRoleAssignments])',
        },
      ]),
    ).toMatch(/SingleAppRoleAssignment/);
  });

  it('no default value, no matching, not both roles and the primary role', () => {
    expect(configError([{ ...COMPLEX, defaultValue: 'User' }])).toMatch(/defaultValue/);
    expect(configError([{ ...COMPLEX, matchingPrecedence: 2 }])).toMatch(/matchingPrecedence/);
    expect(
      configError([
        COMPLEX,
        {
          target: 'roles[primary eq "True"].value',
          expression: 'SingleAppRoleAssignment([appRoleAssignments])',
        },
      ]),
    ).toMatch(/roles.*already mapped by mappings\[1\]/);
  });
});

describe('roles written from AppRoleAssignmentsComplex', () => {
  it('every role, primary false, with its display name, in value order', () => {
    const { resource, modified } = project([COMPLEX], [READER, ADMIN, AUDITOR]);
    expect(resource.roles).toEqual([
      role('Admin', 'Administrator'),
      role('Auditor'),
      role('Reader', 'Reader'),
    ]);
    expect(modified.map((m) => m.target)).toEqual(['userName', 'roles']);
  });

  it('the same roles in another order change nothing', () => {
    const first = project([COMPLEX], [ADMIN, READER]).resource;
    const shuffled = structuredClone(first);
    (shuffled.roles as unknown[]).reverse();
    expect(project([COMPLEX], [READER, ADMIN], shuffled).modified).toEqual([]);
  });

  it('a role changed or removed replaces the list; the last role removed removes roles', () => {
    const first = project([COMPLEX], [ADMIN, READER]).resource;
    const changed = project([COMPLEX], [ADMIN, AUDITOR], first);
    expect(changed.resource.roles).toEqual([role('Admin', 'Administrator'), role('Auditor')]);
    expect(changed.modified).toEqual([
      {
        target: 'roles',
        oldValue: [role('Admin', 'Administrator'), role('Reader', 'Reader')],
        newValue: [role('Admin', 'Administrator'), role('Auditor')],
      },
    ]);
    const removed = project([COMPLEX], [], changed.resource);
    expect(removed.resource).not.toHaveProperty('roles');
    expect(removed.modified).toEqual([{ target: 'roles', oldValue: changed.resource.roles, newValue: null }]);
    // Nothing to remove: no change.
    expect(project([COMPLEX], [], removed.resource).modified).toEqual([]);
  });

  it('default access is no role; a role held twice (directly and through a group) is one', () => {
    const access = { appRoleId: DEFAULT_ACCESS, value: null, displayName: null };
    expect(project([COMPLEX], [access]).resource).not.toHaveProperty('roles');
    expect(project([COMPLEX], [access, ADMIN, { ...ADMIN }]).resource.roles).toEqual([
      role('Admin', 'Administrator'),
    ]);
  });

  it('AssertiveAppRoleAssignmentsComplex is accepted and writes the same list', () => {
    const assertive = {
      target: 'roles',
      expression: 'AssertiveAppRoleAssignmentsComplex([appRoleAssignments])',
    };
    const first = project([COMPLEX], [ADMIN, READER]).resource;
    expect(project([assertive], [ADMIN, READER]).resource).toEqual(first);
    expect(project([assertive], [READER], first).resource.roles).toEqual([role('Reader', 'Reader')]);
  });

  it('a role without value is named by its display name, else its id', () => {
    expect(
      project([COMPLEX], [{ appRoleId: 'd4', value: null, displayName: 'Viewer' }, { appRoleId: 'e5' }])
        .resource.roles,
    ).toEqual([role('Viewer', 'Viewer'), role('e5')]);
  });
});

describe('the primary role from SingleAppRoleAssignment', () => {
  const single = (sub: string): MappingDefinition => ({
    target: `roles[primary eq "True"].${sub}`,
    expression: 'SingleAppRoleAssignment([appRoleAssignments])',
  });

  it('value, display and type of one role, primary true', () => {
    const { resource } = project([single('value'), single('display'), single('type')], [ADMIN]);
    expect(resource.roles).toEqual([{ primary: true, value: 'Admin', display: 'Administrator', type: TYPE }]);
  });

  it('several roles: the same one whatever the order (the lowest value)', () => {
    const a = project([single('value')], [READER, AUDITOR, ADMIN]).resource.roles;
    const b = project([single('value')], [ADMIN, READER, AUDITOR]).resource.roles;
    expect(a).toEqual([{ primary: true, value: 'Admin' }]);
    expect(b).toEqual(a);
  });

  it('changed, then removed with the last role', () => {
    const first = project([single('value'), single('display')], [ADMIN]).resource;
    const changed = project([single('value'), single('display')], [READER], first);
    expect(changed.resource.roles).toEqual([{ primary: true, value: 'Reader', display: 'Reader' }]);
    const removed = project([single('value'), single('display')], [], changed.resource);
    expect(removed.resource).not.toHaveProperty('roles');
    expect(removed.modified.map((m) => [m.target, m.newValue])).toEqual([
      ['roles[primary eq "True"].value', null],
      ['roles[primary eq "True"].display', null],
    ]);
  });

  it('a role without a display name: display is not written, and a stale one goes', () => {
    const first = project([single('value'), single('display')], [ADMIN]).resource;
    const changed = project([single('value'), single('display')], [AUDITOR], first);
    expect(changed.resource.roles).toEqual([{ primary: true, value: 'Auditor' }]);
  });

  it('outside roles, SingleAppRoleAssignment is still the role string', () => {
    const { resource } = project(
      [{ target: 'userType', expression: 'SingleAppRoleAssignment([appRoleAssignments])' }],
      [READER, ADMIN],
    );
    expect(resource.userType).toBe('Admin');
  });
});
