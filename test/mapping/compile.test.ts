import { describe, expect, it } from 'vitest';
import {
  compileMappings,
  DEFAULT_MAPPINGS,
  MappingConfigError,
  mappingDefinitionSchema,
  MappingEvaluationError,
  type MappingDefinition,
} from '../../src/mapping/index.js';
import { ctx, input } from './helpers.js';

const base: MappingDefinition[] = [
  { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
];
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function configError(defs: unknown[]): MappingConfigError {
  try {
    compileMappings(defs as MappingDefinition[]);
  } catch (e) {
    expect(e).toBeInstanceOf(MappingConfigError);
    return e as MappingConfigError;
  }
  throw new Error('expected a MappingConfigError');
}

describe('the default mapping table', () => {
  const c = compileMappings(DEFAULT_MAPPINGS);

  it('compiles with sourceAttributes, matching and a fingerprint', () => {
    expect(c.sourceAttributes).toEqual(['displayName', 'mail', 'userPrincipalName']);
    expect(c.usesAppRoleAssignments).toBe(false);
    expect(c.matching).toEqual([{ target: 'userName', precedence: 1 }]);
    expect(c.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(c.definitions).toHaveLength(4);
  });

  it('evaluates an active and a soft-deleted user', () => {
    const attrs = { userPrincipalName: 'a@contoso.com', mail: 'a@contoso.com', displayName: 'A' };
    expect(c.evaluate(input(attrs), ctx())).toEqual([
      { target: 'userName', value: 'a@contoso.com', defaultValue: null, apply: 'always' },
      { target: 'emails[type eq "work"].value', value: 'a@contoso.com', defaultValue: null, apply: 'always' },
      { target: 'active', value: true, defaultValue: null, apply: 'always' },
      { target: 'displayName', value: 'A', defaultValue: null, apply: 'always' },
    ]);
    const deleted = c.evaluate(input({ userPrincipalName: 'a@contoso.com' }, { isSoftDeleted: true }), ctx());
    expect(deleted.map((m) => m.value)).toEqual(['a@contoso.com', null, false, null]);
  });
});

describe('a non-default mapping table', () => {
  const defs: MappingDefinition[] = [
    { target: 'userName', expression: 'ToLower([userPrincipalName])', matchingPrecedence: 1 },
    { target: 'externalId', direct: 'employeeId', matchingPrecedence: 2 },
    { target: 'displayName', expression: 'Join(" ", [givenName], [surname])' },
    { target: `${ENT}:department`, direct: 'department', defaultValue: 'Unassigned' },
    { target: 'active', direct: 'accountEnabled' },
    { target: 'title', constant: 'Employee', apply: 'create-only' },
    { target: 'name.givenName', direct: 'givenName' },
    { target: 'phoneNumbers[type eq "mobile"].value', direct: 'mobilePhone' },
    { target: 'addresses[type eq "work"].locality', direct: 'city' },
    { target: 'nickName', expression: 'IgnoreFlowIfNullOrEmpty([mailNickname])' },
    { target: 'userType', expression: 'IIF([x]="skip", IgnoreObjectFlow, "Member")' },
    { target: 'preferredLanguage', expression: 'SingleAppRoleAssignment([appRoleAssignments])' },
  ];
  const c = compileMappings(defs);

  it('reads the right attributes, matching in ascending precedence', () => {
    expect(c.sourceAttributes).toEqual([
      'accountEnabled',
      'city',
      'department',
      'employeeId',
      'givenName',
      'mailNickname',
      'mobilePhone',
      'surname',
      'userPrincipalName',
      'x',
    ]);
    expect(c.usesAppRoleAssignments).toBe(true);
    expect(c.matching).toEqual([
      { target: 'userName', precedence: 1 },
      { target: 'externalId', precedence: 2 },
    ]);
  });

  it('evaluates and converts to the target types', () => {
    const out = c.evaluate(
      input(
        {
          userPrincipalName: 'John.Doe@Contoso.com',
          employeeId: 42,
          givenName: 'John',
          surname: 'Doe',
          accountEnabled: false,
        },
        { appRoleAssignments: [{ appRoleId: 'r', value: 'en-US' }] },
      ),
      ctx(),
    );
    const byTarget = Object.fromEntries(out.map((m) => [m.target, m]));
    expect(byTarget.userName?.value).toBe('john.doe@contoso.com');
    expect(byTarget.externalId?.value).toBe('42');
    expect(byTarget.displayName?.value).toBe('John Doe');
    expect(byTarget[`${ENT}:department`]).toMatchObject({ value: null, defaultValue: 'Unassigned' });
    expect(byTarget.active?.value).toBe(false);
    expect(byTarget.title).toMatchObject({ value: 'Employee', apply: 'create-only' });
    expect(byTarget.nickName?.value).toBeNull();
    expect(byTarget.userType).toMatchObject({ value: 'Member' });
    expect(byTarget.userType?.skipObject).toBeUndefined();
    expect(byTarget.preferredLanguage?.value).toBe('en-US');
  });

  it('IgnoreObjectFlow marks skipObject', () => {
    const out = c.evaluate(input({ userPrincipalName: 'u', x: 'skip' }), ctx());
    expect(out.find((m) => m.target === 'userType')).toMatchObject({ value: null, skipObject: true });
  });

  it('update mode does not evaluate create-only mappings', () => {
    const out = c.evaluate(input({ userPrincipalName: 'u' }), ctx({ mode: 'update' }));
    expect(out.find((m) => m.target === 'title')?.value).toBeNull();
  });
});

describe('target types', () => {
  const active = (expression: string) =>
    compileMappings([...base, { target: 'active', expression }]).evaluate(input({ v: 'x' }), ctx())[1]?.value;

  it('active accepts "True"/"False" in any case and booleans', () => {
    expect(active('"True"')).toBe(true);
    expect(active('"false"')).toBe(false);
    expect(active('"TRUE"')).toBe(true);
    expect(active('IsPresent([v])')).toBe(true);
    expect(active('Not(IsPresent([v]))')).toBe(false);
    expect(active('[missing]')).toBeNull();
  });
  it('anything else fails that user with MappingEvaluationError', () => {
    expect(() => active('"maybe"')).toThrow(MappingEvaluationError);
    expect(() => active('"maybe"')).toThrow(/mapping to active: .*expects "True" or "False" but got "maybe"/);
  });
  it('string targets render numbers, booleans, dates; "" flows nothing; lists of >1 fail', () => {
    const one = (expression: string, attrs: Record<string, unknown> = {}) =>
      compileMappings([...base, { target: 'title', expression }]).evaluate(input(attrs), ctx())[1]?.value;
    expect(one('Len("abc")')).toBe('3');
    expect(one('IsNull([x])')).toBe('True');
    expect(one('Now()')).toBe('7/2/2021 3:33:38 PM');
    expect(one('""')).toBeNull();
    expect(one('[l]', { l: ['only'] })).toBe('only');
    expect(() => one('[l]', { l: ['a', 'b'] })).toThrow(/list of 2 values/);
  });
  it('evaluation errors name the mapping', () => {
    const c = compileMappings([...base, { target: 'title', expression: 'CDate([d])' }]);
    expect(() => c.evaluate(input({ d: 'garbage' }), ctx())).toThrow(
      /mapping to title: CDate: cannot parse "garbage"/,
    );
  });
});

describe('target paths', () => {
  it.each([
    ['userName', 'userName'],
    ['DISPLAYNAME', 'displayName'],
    ['name.familyName', 'name.familyName'],
    ['name.honorificSuffix', 'name.honorificSuffix'],
    ['emails[type eq "home"].value', 'emails[type eq "home"].value'],
    ['Emails[Type eq "Work"].Value', 'emails[type eq "work"].value'],
    ['phoneNumbers[type eq "fax"].value', 'phoneNumbers[type eq "fax"].value'],
    ['addresses[type eq "home"].postalCode', 'addresses[type eq "home"].postalCode'],
    [`${ENT}:employeeNumber`, `${ENT}:employeeNumber`],
    [`${ENT}:costCenter`, `${ENT}:costCenter`],
  ])('%s → %s', (target, canonical) => {
    const defs = target === 'userName' ? base : [...base, { target, constant: 'v' }];
    const out = compileMappings(defs).evaluate(input({ userPrincipalName: 'u' }), ctx());
    expect(out.at(-1)?.target).toBe(canonical);
  });
});

describe('configuration errors', () => {
  it.each<[string, unknown[], RegExp, string, number]>([
    [
      'unknown target',
      [...base, { target: 'shoeSize', constant: 'x' }],
      /mappings\[1\] \(target "shoeSize"\): unknown target/,
      'target',
      1,
    ],
    [
      'unknown filter type',
      [...base, { target: 'emails[type eq "pager"].value', constant: 'x' }],
      /supports type "work", "home", "other", not "pager"/,
      'target',
      1,
    ],
    [
      'unknown sub-attribute',
      [...base, { target: 'addresses[type eq "work"].planet', constant: 'x' }],
      /no sub-attribute "planet"/,
      'target',
      1,
    ],
    [
      'unknown enterprise attribute',
      [...base, { target: `${ENT}:shoeSize`, constant: 'x' }],
      /unknown enterprise extension attribute/,
      'target',
      1,
    ],
    [
      'duplicate target',
      [...base, { target: 'displayName', direct: 'a' }, { target: 'DisplayName', direct: 'b' }],
      /mappings\[2\].*duplicate target, already mapped by mappings\[1\]/,
      'target',
      2,
    ],
    [
      'mapping to id',
      [...base, { target: 'id', direct: 'id' }],
      /"id" is the target's primary key/,
      'target',
      1,
    ],
    [
      'manager from anything but direct: manager',
      [...base, { target: `${ENT}:manager`, expression: '[manager]' }],
      /mappings\[1\] \(target ".*:manager"\), expression: the manager is mapped only from "direct: manager"/,
      'expression',
      1,
    ],
    [
      'unparsable expression',
      [...base, { target: 'title', expression: 'Join(",", [a] [b])' }],
      /mappings\[1\] \(target "title"\), expression at position 15: expected "," or "\)"/,
      'expression',
      1,
    ],
    [
      'unknown function',
      [...base, { target: 'title', expression: 'Frob([a])' }],
      /expression at position 1: unknown function "Frob"/,
      'expression',
      1,
    ],
    [
      'wrong argument count',
      [...base, { target: 'title', expression: 'ToLower()' }],
      /ToLower expects 1 to 2 arguments but got 0/,
      'expression',
      1,
    ],
    [
      'no userName',
      [{ target: 'displayName', direct: 'displayName', matchingPrecedence: 1 }],
      /no mapping to userName/,
      'target',
      -1,
    ],
    [
      'duplicate precedence',
      [...base, { target: 'externalId', direct: 'id', matchingPrecedence: 1 }],
      /matchingPrecedence: 1 is already used by mappings\[0\]/,
      'matchingPrecedence',
      1,
    ],
    [
      'two sources',
      [{ target: 'userName', direct: 'a', constant: 'b', matchingPrecedence: 1 }],
      /exactly one of direct, constant or expression/,
      'source',
      0,
    ],
    [
      'no source',
      [{ target: 'userName', matchingPrecedence: 1 }],
      /exactly one of direct, constant or expression/,
      'source',
      0,
    ],
    [
      'unknown key',
      [{ target: 'userName', direct: 'a', matchingPrecedence: 1, flowNulls: true }],
      /flowNulls/,
      'mapping',
      0,
    ],
    [
      'bad apply',
      [{ target: 'userName', direct: 'a', matchingPrecedence: 1, apply: 'sometimes' }],
      /apply/,
      'apply',
      0,
    ],
    [
      'precedence 0',
      [{ target: 'userName', direct: 'a', matchingPrecedence: 0 }],
      /matchingPrecedence/,
      'matchingPrecedence',
      0,
    ],
    [
      'bad direct name',
      [{ target: 'userName', direct: 'user name', matchingPrecedence: 1 }],
      /invalid attribute name "user name"/,
      'direct',
      0,
    ],
    [
      'bad boolean default',
      [...base, { target: 'active', direct: 'accountEnabled', defaultValue: 'maybe' }],
      /defaultValue: .*"maybe"/,
      'defaultValue',
      1,
    ],
    [
      'SelectUniqueValue not create-only',
      [...base, { target: 'nickName', expression: 'SelectUniqueValue("a", "b")' }],
      /set apply: create-only/,
      'apply',
      1,
    ],
    [
      'SelectUniqueValue on a matching attribute',
      [
        {
          target: 'userName',
          expression: 'SelectUniqueValue("a", "b")',
          apply: 'create-only',
          matchingPrecedence: 1,
        },
      ],
      /cannot be used on a matching attribute/,
      'matchingPrecedence',
      0,
    ],
  ])('%s', (_name, defs, message, field, index) => {
    const e = configError(defs);
    expect(e.message).toMatch(message);
    expect(e.field).toBe(field);
    expect(e.mappingIndex).toBe(index);
  });

  it('carries the expression position', () => {
    expect(configError([...base, { target: 'title', expression: 'Left([a])' }]).position).toBe(1);
    expect(configError([...base, { target: 'title', expression: 'Left([a], 1' }]).position).toBe(12);
    expect(configError([...base, { target: 'shoeSize', direct: 'x' }]).position).toBeUndefined();
  });

  it('mappingDefinitionSchema validates a YAML-shaped definition', () => {
    expect(mappingDefinitionSchema.safeParse({ target: 'userName', direct: 'upn' }).success).toBe(true);
    expect(mappingDefinitionSchema.safeParse({ target: 'userName' }).success).toBe(false);
  });
});

describe('fingerprint', () => {
  const fp = (defs: MappingDefinition[]) => compileMappings(defs).fingerprint;
  const defs: MappingDefinition[] = [
    ...base,
    { target: 'displayName', expression: 'Join(" ", [givenName], [surname])' },
  ];

  it('is stable and ignores whitespace, function-name case and target spelling', () => {
    expect(fp(defs)).toBe(fp(defs));
    expect(fp([...base, { target: 'DisplayName', expression: 'join( " ",[givenName],  [surname] )' }])).toBe(
      fp(defs),
    );
  });

  it.each<[string, MappingDefinition[]]>([
    [
      'a different expression',
      [...base, { target: 'displayName', expression: 'Join(", ", [givenName], [surname])' }],
    ],
    [
      'a different target',
      [...base, { target: 'nickName', expression: 'Join(" ", [givenName], [surname])' }],
    ],
    [
      'a defaultValue',
      [
        ...base,
        { target: 'displayName', expression: 'Join(" ", [givenName], [surname])', defaultValue: 'x' },
      ],
    ],
    [
      'apply create-only',
      [
        ...base,
        { target: 'displayName', expression: 'Join(" ", [givenName], [surname])', apply: 'create-only' },
      ],
    ],
    [
      'a matching precedence',
      [
        ...base,
        { target: 'displayName', expression: 'Join(" ", [givenName], [surname])', matchingPrecedence: 2 },
      ],
    ],
    ['order', [{ target: 'displayName', expression: 'Join(" ", [givenName], [surname])' }, ...base]],
    ['direct instead of constant', [...base, { target: 'displayName', direct: 'x' }]],
  ])('changes with %s', (_n, other) => {
    expect(fp(other)).not.toBe(fp(defs));
  });

  it('distinguishes direct and constant with the same text', () => {
    expect(fp([...base, { target: 'title', direct: 'x' }])).not.toBe(
      fp([...base, { target: 'title', constant: 'x' }]),
    );
  });
});

describe('sourceAttributes', () => {
  it('collects direct and expression attributes, excludes virtual ones, sorted and unique', () => {
    const c = compileMappings([
      ...base,
      { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
      { target: 'displayName', expression: 'Coalesce([displayName], [userPrincipalName], [mail])' },
      { target: 'title', expression: 'SingleAppRoleAssignment([appRoleAssignments])' },
      { target: 'nickName', constant: 'n' },
    ]);
    expect(c.sourceAttributes).toEqual(['displayName', 'mail', 'userPrincipalName']);
    expect(c.usesAppRoleAssignments).toBe(true);
  });
});
