/**
 * planGroup as a table: facts, settings and the local groups in, one action out. Plain data only;
 * the group mappings are the shipped defaults of config/default.yaml, compiled for real.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  compileGroupFilter,
  compileGroupMappings,
  GROUP_SCHEMA,
  MappingConfigError,
  type MappingDefinition,
} from '../../src/mapping/index.js';
import {
  groupAuditOf,
  planGroup,
  type GroupAction,
  type GroupFacts,
  type GroupPlanSettings,
  type LocalGroup,
} from '../../src/plan/groups.js';

const shipped = (
  parse(readFileSync(join(resolve(import.meta.dirname, '../..'), 'config/default.yaml'), 'utf8')) as {
    groups: { mappings: MappingDefinition[] };
  }
).groups.mappings;

const ID = '11111111-1111-1111-1111-111111111111';
const ENG = { id: ID, displayName: 'Engineering', description: 'the builders', mail: null };

const local = (id: string, displayName: string, externalId: string | null = null): LocalGroup => ({
  id,
  externalId,
  displayName,
  resource: { schemas: [GROUP_SCHEMA], displayName, ...(externalId ? { externalId } : {}) },
});

function settings(
  over: Partial<GroupPlanSettings> = {},
  defs: readonly MappingDefinition[] = shipped,
): GroupPlanSettings {
  return {
    mappings: compileGroupMappings(defs),
    actions: { create: true, update: true, delete: true },
    scope: 'assigned',
    filter: null,
    now: () => new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
}

const facts = (over: Partial<GroupFacts> = {}): GroupFacts => ({
  entraId: ID,
  source: { displayName: ENG.displayName, attributes: ENG, removed: false },
  assigned: true,
  linked: null,
  ...over,
});

const none = () => [];

interface Row {
  name: string;
  facts: GroupFacts;
  settings?: GroupPlanSettings;
  candidates?: LocalGroup[];
  expect: Partial<GroupAction> & { kind: GroupAction['kind'] };
}

const linkedEng = local('g-1', 'Engineering', ID);

const table: Row[] = [
  {
    name: 'an assigned group never seen is created with displayName and externalId',
    facts: facts(),
    expect: {
      kind: 'create',
      displayName: 'Engineering',
      code: 'new-assignment',
      resource: { schemas: [GROUP_SCHEMA], displayName: 'Engineering', externalId: ID },
    } as Partial<GroupAction> & { kind: 'create' },
  },
  {
    name: 'a rename updates the linked row in place, old -> new',
    facts: facts({
      source: { displayName: 'Platform', attributes: { ...ENG, displayName: 'Platform' }, removed: false },
      linked: linkedEng,
    }),
    expect: {
      kind: 'update',
      displayName: 'Platform',
      code: 'attributes-changed',
      modified: [{ target: 'displayName', oldValue: 'Engineering', newValue: 'Platform' }],
    } as Partial<GroupAction> & { kind: 'update' },
  },
  {
    name: 'unchanged: a quiet keep, in scope',
    facts: facts({ linked: linkedEng }),
    expect: { kind: 'keep', inScope: true, quiet: true } as Partial<GroupAction> & { kind: 'keep' },
  },
  {
    name: 'unassigned and linked: delete with reason unassigned',
    facts: facts({ assigned: false, linked: linkedEng }),
    expect: { kind: 'delete', code: 'unassigned' } as Partial<GroupAction> & { kind: 'delete' },
  },
  {
    name: 'deleted in Entra and linked: delete with reason deleted-in-entra',
    facts: facts({
      source: { displayName: 'Engineering', attributes: ENG, removed: true },
      linked: linkedEng,
    }),
    expect: { kind: 'delete', code: 'deleted-in-entra' } as Partial<GroupAction> & { kind: 'delete' },
  },
  {
    name: 'forgotten by Graph (no mirror) and linked: deleted-in-entra',
    facts: facts({ source: null, linked: linkedEng }),
    expect: { kind: 'delete', code: 'deleted-in-entra' } as Partial<GroupAction> & { kind: 'delete' },
  },
  {
    name: 'unassigned with the delete action off: kept, out of scope, audited',
    facts: facts({ assigned: false, linked: linkedEng }),
    settings: settings({ actions: { create: true, update: true, delete: false } }),
    expect: { kind: 'keep', inScope: false, quiet: false, code: 'action-off' } as Partial<GroupAction> & {
      kind: 'keep';
    },
  },
  {
    name: 'unassigned, never provisioned: a quiet keep out of scope',
    facts: facts({ assigned: false }),
    expect: { kind: 'keep', inScope: false, quiet: true, code: 'unassigned' } as Partial<GroupAction> & {
      kind: 'keep';
    },
  },
  {
    name: 'scope all: every group is in scope, assignment or not',
    facts: facts({ assigned: false }),
    settings: settings({ scope: 'all' }),
    expect: { kind: 'create' },
  },
  {
    name: 'scope all with a filter the group fails, linked: delete out-of-filter',
    facts: facts({ assigned: false, linked: linkedEng }),
    settings: settings({ scope: 'all', filter: compileGroupFilter('Left([displayName], 4) = "app-"') }),
    expect: { kind: 'delete', code: 'out-of-filter' } as Partial<GroupAction> & { kind: 'delete' },
  },
  {
    name: 'scope all with a filter the group passes: created',
    facts: facts({ assigned: false }),
    settings: settings({ scope: 'all', filter: compileGroupFilter('Left([displayName], 3) = "Eng"') }),
    expect: { kind: 'create' },
  },
  {
    name: 'the filter is ignored with scope assigned (config rejects it there)',
    facts: facts(),
    settings: settings({ filter: compileGroupFilter('"False"') }),
    expect: { kind: 'create' },
  },
  {
    name: 'one unlinked local group of that name (any case): linked, same local id',
    facts: facts(),
    candidates: [local('app-7', 'engineering')],
    expect: {
      kind: 'link',
      code: 'matched:displayName',
      displayName: 'Engineering',
      modified: [
        { target: 'displayName', oldValue: 'engineering', newValue: 'Engineering' },
        { target: 'externalId', oldValue: null, newValue: ID },
      ],
    } as Partial<GroupAction> & { kind: 'link' },
  },
  {
    name: 'two unlinked local groups of that name: an error for this group',
    facts: facts(),
    candidates: [local('app-7', 'Engineering'), local('app-8', 'ENGINEERING')],
    expect: { kind: 'error', code: 'conflict', displayName: 'Engineering' } as Partial<GroupAction> & {
      kind: 'error';
    },
  },
  {
    name: 'no matchingPrecedence: a local group of that name is not linked, a new one is created',
    facts: facts(),
    settings: settings(
      {},
      shipped.map(({ matchingPrecedence: _, ...m }) => m),
    ),
    candidates: [local('app-7', 'Engineering')],
    expect: { kind: 'create' },
  },
  {
    name: 'the create action off: not created, audited',
    facts: facts(),
    settings: settings({ actions: { create: false, update: true, delete: true } }),
    expect: { kind: 'keep', code: 'action-off', quiet: false } as Partial<GroupAction> & { kind: 'keep' },
  },
  {
    name: 'the update action off: a rename is not written',
    facts: facts({
      source: { displayName: 'Platform', attributes: { ...ENG, displayName: 'Platform' }, removed: false },
      linked: linkedEng,
    }),
    settings: settings({ actions: { create: true, update: false, delete: true } }),
    expect: { kind: 'keep', inScope: true, code: 'action-off' } as Partial<GroupAction> & { kind: 'keep' },
  },
  {
    name: 'a group without a displayName cannot be created: an error, not a delete',
    facts: facts({
      source: { displayName: null, attributes: { ...ENG, displayName: null }, removed: false },
    }),
    expect: { kind: 'error', code: 'invalid-display-name' } as Partial<GroupAction> & { kind: 'error' },
  },
  {
    name: 'a linked group whose displayName becomes null keeps its name (nulls do not flow)',
    facts: facts({
      source: { displayName: null, attributes: { ...ENG, displayName: null }, removed: false },
      linked: linkedEng,
    }),
    expect: { kind: 'keep', inScope: true, quiet: true } as Partial<GroupAction> & { kind: 'keep' },
  },
  {
    name: 'an extension attribute from an expression lands under its schema',
    facts: facts(),
    settings: settings({}, [
      ...shipped,
      { target: 'urn:example:2.0:Group:info', expression: 'Join(" / ", [displayName], [description])' },
    ]),
    expect: {
      kind: 'create',
      resource: {
        schemas: [GROUP_SCHEMA, 'urn:example:2.0:Group'],
        displayName: 'Engineering',
        externalId: ID,
        'urn:example:2.0:Group': { info: 'Engineering / the builders' },
      },
    } as Partial<GroupAction> & { kind: 'create' },
  },
];

describe('planGroup', () => {
  for (const row of table) {
    it(row.name, () => {
      const candidates = row.candidates ?? [];
      const action = planGroup(row.facts, row.settings ?? settings(), (name) =>
        candidates.filter((g) => g.displayName.toLowerCase() === name.toLowerCase()),
      );
      expect(action).toMatchObject(row.expect);
    });
  }

  it('a delete names the local group, and its audit row is a group row', () => {
    const action = planGroup(facts({ assigned: false, linked: linkedEng }), settings(), none);
    expect(groupAuditOf('c1', action, null)).toMatchObject({
      action: 'delete',
      objectType: 'group',
      entraId: ID,
      groupId: 'g-1',
      groupName: 'Engineering',
      userId: null,
      reasonCode: 'unassigned',
    });
  });

  it('a quiet keep has no audit row', () => {
    expect(groupAuditOf('c1', planGroup(facts({ linked: linkedEng }), settings(), none), 'g-1')).toBeNull();
  });
});

describe('group mappings', () => {
  const fails = (defs: MappingDefinition[]) => {
    try {
      compileGroupMappings(defs);
    } catch (e) {
      expect(e).toBeInstanceOf(MappingConfigError);
      return (e as MappingConfigError).message;
    }
    throw new Error('compiled');
  };

  it('a typo in a source attribute names the mapping and suggests the property', () => {
    expect(fails([...shipped, { target: 'urn:x:Group:d', direct: 'descripton' }])).toMatch(
      /groups\.mappings\[3\].*unknown source attribute "descripton" \(did you mean "description"\?\)/,
    );
  });

  it('a user property is not a group property', () => {
    expect(fails([{ target: 'displayName', direct: 'userPrincipalName' }])).toMatch(
      /unknown source attribute/,
    );
  });

  it('members maps from members only, and displayName is required', () => {
    expect(
      fails([
        { target: 'displayName', direct: 'displayName' },
        { target: 'members', direct: 'mail' },
      ]),
    ).toMatch(/members target takes `direct: members`/);
    expect(fails([{ target: 'externalId', direct: 'objectId' }])).toMatch(/no mapping to displayName/);
    expect(
      fails([
        { target: 'displayName', direct: 'displayName' },
        { target: 'nickName', direct: 'mail' },
      ]),
    ).toMatch(/unknown group target "nickName"/);
  });

  it('leaving out the members mapping turns membership sync off; $select lists what is read', () => {
    const m = compileGroupMappings(shipped.filter((d) => d.target !== 'members'));
    expect(m.syncsMembers).toBe(false);
    expect(compileGroupMappings(shipped).syncsMembers).toBe(true);
    expect(
      compileGroupMappings([
        ...shipped,
        { target: 'urn:x:Group:a', expression: 'Join(",", [mail], [ObjectId])' },
      ]).sourceAttributes,
    ).toEqual(['displayName', 'mail']);
  });

  it('the fingerprint changes with the mappings', () => {
    const a = compileGroupMappings(shipped).fingerprint;
    expect(compileGroupMappings(shipped).fingerprint).toBe(a);
    expect(compileGroupMappings(shipped.filter((d) => d.target !== 'members')).fingerprint).not.toBe(a);
  });
});
