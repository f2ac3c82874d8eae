/**
 * planUser as a table: facts, settings and the store's rows in, one action out. Plain data only (no
 * store, no network); the mappings are the shipped defaults of config/default.yaml, compiled for real.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  compileMappings,
  readScimValue,
  USER_SCHEMA,
  type CompiledMappings,
  type MappingDefinition,
} from '../../src/mapping/index.js';
import { planUser } from '../../src/plan/plan.js';
import type {
  ActionKind,
  PlanSettings,
  PlannedAction,
  StoreLookup,
  StoreUser,
  UserFacts,
} from '../../src/plan/types.js';
import { sameUserName } from '../../src/plan/user-name.js';

const WORK_EMAIL = 'emails[type eq "work"].value';

const shipped = (
  parse(readFileSync(join(resolve(import.meta.dirname, '../..'), 'config/default.yaml'), 'utf8')) as {
    mappings: MappingDefinition[];
  }
).mappings;

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const MANAGER = `${ENTERPRISE}:manager`;

const MAPPINGS: Record<'default' | 'emailMatching' | 'manager' | 'managerOnCreate', CompiledMappings> = {
  default: compileMappings(shipped),
  // The shipped mappings with the work email as the only matching attribute: unlike userName
  // (UNIQUE in the store), it can find several rows.
  emailMatching: compileMappings(
    shipped.map(({ matchingPrecedence: _, ...m }) =>
      m.target === WORK_EMAIL ? { ...m, matchingPrecedence: 1 } : m,
    ),
  ),
  manager: compileMappings([...shipped, { target: MANAGER, direct: 'manager' }]),
  managerOnCreate: compileMappings([
    ...shipped,
    { target: MANAGER, direct: 'manager', apply: 'create-only' },
  ]),
};

/** A row whose SCIM resource names a manager (its local id). */
const managed = (r: StoreUser, managerRowId: string): StoreUser => ({
  ...r,
  resource: {
    ...r.resource,
    schemas: [USER_SCHEMA, ENTERPRISE],
    [ENTERPRISE]: { manager: { value: managerRowId } },
  },
});

const ADA = {
  userPrincipalName: 'ada@contoso.com',
  mail: 'ada@contoso.com',
  displayName: 'Ada Lovelace',
  accountEnabled: true,
};

/** A row as the store returns it: plain columns folded into the SCIM resource. */
function row(
  id: string,
  userName: string,
  more: {
    externalId?: string;
    active?: boolean;
    displayName?: string;
    email?: string;
    linkable?: boolean | null;
  } = {},
): StoreUser {
  const active = more.active ?? true;
  const displayName = more.displayName ?? null;
  const email = more.email ?? userName;
  return {
    id,
    externalId: more.externalId ?? null,
    userName,
    displayName,
    email,
    active,
    linkable: more.linkable ?? null,
    resource: {
      schemas: [USER_SCHEMA],
      userName,
      active,
      ...(displayName === null ? {} : { displayName }),
      emails: [{ type: 'work', value: email, primary: true }],
    },
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** Ada's row as an earlier create wrote it, linked to her. */
const adaRow = (more: { active?: boolean; displayName?: string } = {}) =>
  row('row-ada', 'ada@contoso.com', { externalId: 'entra-ada', displayName: 'Ada Lovelace', ...more });

interface FactsSpec {
  attributes?: Record<string, unknown>;
  /** false: Graph never listed the user (no mirror). */
  listed?: boolean;
  softDeleted?: boolean;
  released?: boolean;
  hardDeleted?: boolean;
  inScope?: boolean;
  scopeVia?: UserFacts['scopeVia'];
  leftGroup?: string;
  linked?: StoreUser;
  /** The manager the mirror names and its row's local id, as the store resolved it. */
  manager?: { entraId: string; rowId: string | null };
}

interface SettingsSpec {
  create?: boolean;
  update?: boolean;
  delete?: boolean;
  mappings?: keyof typeof MAPPINGS;
}

interface Expected {
  kind: ActionKind;
  /** The id of the row the action is about (null: none). */
  row?: string | null;
  /** The mirror's released flag after the action (undefined: unchanged). */
  release?: boolean;
  reason?: RegExp;
  /** The audit row's reason code (README, "Reading the audit"). */
  code?: string;
  quiet?: boolean;
  /** A skip audited the first time only. */
  once?: boolean;
  /** Targets whose value changes, in mapping order. */
  modified?: string[];
  matchedOn?: string;
  /** The userName an error names. */
  userName?: string | null;
  resource?: Record<string, unknown>;
}

interface Case {
  name: string;
  facts?: FactsSpec;
  settings?: SettingsSpec;
  /** The store's rows besides the linked one. */
  rows?: StoreUser[];
  expected: Expected;
}

const cases: Case[] = [
  // First sight
  {
    name: 'create at first sight',
    expected: {
      kind: 'create',
      code: 'new-assignment',
      reason: /^in scope: assigned directly$/,
      modified: ['userName', WORK_EMAIL, 'active', 'displayName'],
      resource: {
        schemas: [USER_SCHEMA],
        userName: 'ada@contoso.com',
        active: true,
        displayName: 'Ada Lovelace',
        emails: [{ type: 'work', value: 'ada@contoso.com' }],
      },
    },
  },
  {
    name: 'link: the userName finds an unlinked local row (ASCII case aside)',
    rows: [row('row-local', 'ADA@contoso.com')],
    expected: {
      kind: 'link',
      row: 'row-local',
      matchedOn: 'userName',
      modified: ['userName', WORK_EMAIL, 'displayName'],
      resource: { userName: 'ada@contoso.com', displayName: 'Ada Lovelace', active: true },
    },
  },
  {
    name: 'link refused: the matching row is marked linkable = 0',
    rows: [row('row-local', 'ada@contoso.com', { linkable: false })],
    expected: {
      kind: 'error',
      reason: /already belongs to local row row-local, which is not marked linkable \(users\.linkable = 0\)/,
      userName: 'ada@contoso.com',
    },
  },
  {
    name: 'matching conflict: the work email finds two unlinked rows',
    settings: { mappings: 'emailMatching' },
    rows: [
      row('row-1', 'ada.l@contoso.com', { email: 'ada@contoso.com' }),
      row('row-2', 'alovelace@contoso.com', { email: 'ADA@contoso.com' }),
    ],
    expected: {
      kind: 'error',
      reason: /^emails\[type eq "work"\]\.value "ada@contoso\.com" matches 2 local users; make it unique$/,
      userName: 'ada@contoso.com',
    },
  },
  {
    name: 'the userName belongs to another Entra user',
    rows: [row('row-other', 'Ada@contoso.com', { externalId: 'entra-other' })],
    expected: {
      kind: 'error',
      reason: /^userName "ada@contoso\.com" already belongs to another Entra user \(entra-other\)$/,
      userName: 'ada@contoso.com',
    },
  },
  {
    name: 'a userName with an invisible character is not created',
    facts: { attributes: { ...ADA, userPrincipalName: 'ada\u200b@contoso.com' } },
    expected: { kind: 'error', reason: /U\+200B at position 4/, userName: 'ada\u200b@contoso.com' },
  },
  {
    name: 'disabled at first sight: not created',
    facts: { attributes: { ...ADA, accountEnabled: false } },
    expected: {
      kind: 'skip',
      code: 'disabled-in-entra',
      reason: /^disabled in Entra and never created; disabled users are not created$/,
      quiet: false,
      once: true,
    },
  },
  {
    name: 'out of scope at first sight: not created',
    facts: { inScope: false },
    expected: {
      kind: 'skip',
      code: 'not-assigned',
      reason: /^out of scope: not assigned \(directly or through any assigned group\)$/,
      quiet: true,
    },
  },
  {
    name: 'soft-deleted at first sight: not created',
    facts: { softDeleted: true, inScope: false },
    expected: {
      kind: 'skip',
      code: 'soft-deleted',
      reason: /^soft-deleted in Entra and never created$/,
      quiet: false,
      once: true,
    },
  },
  {
    name: 'not listed by Graph',
    facts: { listed: false },
    expected: { kind: 'skip', reason: /^not listed by Graph$/, quiet: true },
  },
  {
    name: 'create action off',
    settings: { create: false },
    expected: { kind: 'skip', reason: /^the create action is off$/, quiet: false },
  },

  // Linked
  {
    name: 'unchanged: a quiet skip',
    facts: { linked: adaRow() },
    expected: { kind: 'skip', row: 'row-ada', reason: /^unchanged$/, quiet: true },
  },
  {
    name: 'update: a changed displayName',
    facts: { linked: adaRow({ displayName: 'Ada Byron' }) },
    expected: {
      kind: 'update',
      row: 'row-ada',
      modified: ['displayName'],
      code: 'attributes-changed',
      reason: /^changed in Entra: displayName$/,
      resource: { displayName: 'Ada Lovelace' },
    },
  },
  {
    name: 'update action off',
    settings: { update: false },
    facts: { linked: adaRow({ displayName: 'Ada Byron' }) },
    expected: { kind: 'skip', row: 'row-ada', reason: /^the update action is off$/, quiet: false },
  },
  {
    name: 'update to a userName another row holds',
    facts: { attributes: { ...ADA, userPrincipalName: 'grace@contoso.com' }, linked: adaRow() },
    rows: [row('row-grace', 'GRACE@contoso.com')],
    expected: {
      kind: 'error',
      row: 'row-ada',
      reason: /^userName "grace@contoso\.com" already belongs to another user$/,
      userName: 'ada@contoso.com',
    },
  },
  {
    name: 'left scope: disable and release',
    facts: { inScope: false, linked: adaRow() },
    expected: {
      kind: 'disable',
      row: 'row-ada',
      release: true,
      modified: ['active'],
      code: 'unassigned',
      reason: /^no longer assigned to the application/,
    },
  },
  {
    name: 'left the assigned group that gave scope: the disable names it',
    facts: { inScope: false, leftGroup: 'group-pilots', linked: adaRow() },
    expected: {
      kind: 'disable',
      row: 'row-ada',
      release: true,
      modified: ['active'],
      code: 'left-group:group-pilots',
      reason: /^left group group-pilots, which gave it scope/,
    },
  },
  {
    name: 'a group left earlier says nothing while the user is in scope: an update',
    facts: { leftGroup: 'group-pilots', linked: adaRow({ displayName: 'Ada Byron' }) },
    expected: { kind: 'update', row: 'row-ada', modified: ['displayName'], code: 'attributes-changed' },
  },
  {
    name: 'soft-deleted after leaving a group: the soft delete is the reason',
    facts: { softDeleted: true, inScope: false, leftGroup: 'group-pilots', linked: adaRow() },
    expected: { kind: 'disable', row: 'row-ada', modified: ['active'], code: 'soft-deleted' },
  },
  {
    name: 'create through a group: the reason says so',
    facts: { scopeVia: 'group' },
    expected: {
      kind: 'create',
      modified: ['userName', WORK_EMAIL, 'active', 'displayName'],
      code: 'new-assignment',
      reason: /^in scope: through an assigned group$/,
    },
  },
  {
    name: 'left scope with the update action off: nothing is disabled',
    settings: { update: false },
    facts: { inScope: false, linked: adaRow() },
    expected: { kind: 'skip', row: 'row-ada', reason: /^the update action is off$/, quiet: false },
  },
  {
    name: 'soft delete: disable, still managed (not released)',
    facts: { softDeleted: true, inScope: false, linked: adaRow() },
    expected: {
      kind: 'disable',
      row: 'row-ada',
      modified: ['active'],
      code: 'soft-deleted',
      reason: /^soft-deleted in Entra/,
    },
  },
  {
    name: 'disabled in Entra: disable, still managed (not released)',
    facts: { attributes: { ...ADA, accountEnabled: false }, linked: adaRow() },
    expected: {
      kind: 'disable',
      row: 'row-ada',
      modified: ['active'],
      code: 'disabled-in-entra',
      reason: /^disabled in Entra/,
    },
  },
  {
    name: 'restore after a soft delete: enable',
    facts: { linked: adaRow({ active: false }) },
    expected: { kind: 'enable', row: 'row-ada', modified: ['active'], resource: { active: true } },
  },
  {
    name: 'back in scope: enable and no longer released',
    facts: { released: true, linked: adaRow({ active: false }) },
    expected: {
      kind: 'enable',
      row: 'row-ada',
      release: false,
      modified: ['active'],
      code: 'back-in-scope',
    },
  },
  {
    name: 'back in scope, row already active: no longer released, quietly',
    facts: { released: true, linked: adaRow() },
    expected: { kind: 'skip', row: 'row-ada', release: false, reason: /^unchanged$/, quiet: true },
  },
  {
    name: 'released and still out of scope: left alone',
    facts: { released: true, inScope: false, linked: adaRow({ active: false }) },
    expected: {
      kind: 'skip',
      row: 'row-ada',
      reason: /^no longer managed since it left scope$/,
      quiet: true,
    },
  },

  // Hard delete
  {
    name: 'hard delete with the delete action on: delete',
    facts: { hardDeleted: true, softDeleted: true, inScope: false, linked: adaRow({ active: false }) },
    expected: { kind: 'delete', row: 'row-ada', code: 'hard-deleted', reason: /^hard-deleted in Entra$/ },
  },
  {
    name: 'hard delete with the delete action off: kept',
    settings: { delete: false },
    facts: { hardDeleted: true, softDeleted: true, inScope: false, linked: adaRow({ active: false }) },
    expected: {
      kind: 'skip',
      row: 'row-ada',
      reason: /^hard-deleted in Entra; the delete action is off$/,
      quiet: false,
    },
  },
  {
    name: 'hard delete of a released user: kept',
    facts: { hardDeleted: true, released: true, inScope: false, linked: adaRow({ active: false }) },
    expected: {
      kind: 'skip',
      row: 'row-ada',
      reason: /^hard-deleted in Entra; no longer managed since it left scope$/,
      quiet: false,
    },
  },
  {
    name: 'hard delete of a user never provisioned',
    facts: { hardDeleted: true, listed: false, inScope: false },
    expected: { kind: 'skip', reason: /^hard-deleted in Entra, never provisioned$/, quiet: true },
  },

  // The enterprise manager: the manager's Entra id resolved to its row's local id
  {
    name: 'manager at first sight, its row in the store: created with manager.value = the row id',
    facts: {
      attributes: { ...ADA, manager: 'entra-boss' },
      manager: { entraId: 'entra-boss', rowId: 'row-boss' },
    },
    settings: { mappings: 'manager' },
    expected: {
      kind: 'create',
      modified: ['userName', WORK_EMAIL, 'active', 'displayName', MANAGER],
      resource: { [ENTERPRISE]: { manager: { value: 'row-boss' } }, schemas: [USER_SCHEMA, ENTERPRISE] },
    },
  },
  {
    name: 'manager at first sight without a row (yet): created without a manager',
    facts: { attributes: { ...ADA, manager: 'entra-boss' }, manager: { entraId: 'entra-boss', rowId: null } },
    settings: { mappings: 'manager' },
    expected: { kind: 'create', modified: ['userName', WORK_EMAIL, 'active', 'displayName'] },
  },
  {
    name: 'manager set on a linked user: update of the manager only',
    facts: {
      attributes: { ...ADA, manager: 'entra-boss' },
      manager: { entraId: 'entra-boss', rowId: 'row-boss' },
      linked: adaRow(),
    },
    settings: { mappings: 'manager' },
    expected: {
      kind: 'update',
      row: 'row-ada',
      modified: [MANAGER],
      resource: { [ENTERPRISE]: { manager: { value: 'row-boss' } } },
    },
  },
  {
    name: 'manager unchanged: quiet skip',
    facts: {
      attributes: { ...ADA, manager: 'entra-boss' },
      manager: { entraId: 'entra-boss', rowId: 'row-boss' },
      linked: managed(adaRow(), 'row-boss'),
    },
    settings: { mappings: 'manager' },
    expected: { kind: 'skip', row: 'row-ada', quiet: true, reason: /^unchanged$/ },
  },
  {
    name: 'manager removed in Entra: the reference is cleared',
    facts: { attributes: { ...ADA, manager: null }, linked: managed(adaRow(), 'row-boss') },
    settings: { mappings: 'manager' },
    expected: { kind: 'update', row: 'row-ada', modified: [MANAGER] },
  },
  {
    name: "manager's row gone from the store: the stale reference is cleared",
    facts: {
      attributes: { ...ADA, manager: 'entra-boss' },
      manager: { entraId: 'entra-boss', rowId: null },
      linked: managed(adaRow(), 'row-boss'),
    },
    settings: { mappings: 'manager' },
    expected: { kind: 'update', row: 'row-ada', modified: [MANAGER] },
  },
  {
    name: 'manager resolved for another Entra id than the source names: not taken',
    facts: {
      attributes: { ...ADA, manager: 'entra-new-boss' },
      manager: { entraId: 'entra-boss', rowId: 'row-boss' },
      linked: adaRow(),
    },
    settings: { mappings: 'manager' },
    expected: { kind: 'skip', row: 'row-ada', quiet: true, reason: /^unchanged$/ },
  },
  {
    name: 'manager mapped create-only: a linked user keeps its reference',
    facts: { attributes: { ...ADA, manager: null }, linked: managed(adaRow(), 'row-boss') },
    settings: { mappings: 'managerOnCreate' },
    expected: { kind: 'skip', row: 'row-ada', quiet: true, reason: /^unchanged$/ },
  },

  // Mapping evaluation errors fail the user, never disable or delete it
  {
    name: 'mapping evaluation error at first sight',
    facts: { attributes: { ...ADA, userPrincipalName: ['ada@contoso.com', 'ada@fabrikam.com'] } },
    expected: {
      kind: 'error',
      reason: /^mapping to userName: .*expects a single value but got a list of 2 values$/,
      userName: null,
    },
  },
  {
    name: 'mapping evaluation error of a linked user out of scope: an error, not a disable',
    facts: {
      attributes: { ...ADA, userPrincipalName: ['ada@contoso.com', 'ada@fabrikam.com'] },
      inScope: false,
      linked: adaRow(),
    },
    expected: {
      kind: 'error',
      row: 'row-ada',
      reason: /^mapping to userName: .*list of 2 values$/,
      userName: 'ada@contoso.com',
    },
  },
];

function factsOf(spec: FactsSpec = {}): UserFacts {
  return {
    entraId: 'entra-ada',
    source:
      spec.listed === false
        ? null
        : {
            attributes: spec.attributes ?? ADA,
            softDeleted: spec.softDeleted ?? false,
            released: spec.released ?? false,
          },
    hardDeleted: spec.hardDeleted ?? false,
    inScope: spec.inScope ?? true,
    ...(spec.scopeVia !== undefined ? { scopeVia: spec.scopeVia } : {}),
    ...(spec.leftGroup ? { leftGroup: spec.leftGroup } : {}),
    ...(spec.manager ? { manager: spec.manager } : {}),
    linked: spec.linked ?? null,
  };
}

function settingsOf(spec: SettingsSpec = {}): PlanSettings {
  return {
    mappings: MAPPINGS[spec.mappings ?? 'default'],
    actions: { create: spec.create ?? true, update: spec.update ?? true, delete: spec.delete ?? true },
    evaluation: { now: () => new Date('2026-01-01T00:00:00Z') },
    linkOnlyWhere: 'any',
  };
}

/** The store's answers over plain rows; userName and the work email compare as its NOCASE collation. */
function lookupOf(rows: StoreUser[]): StoreLookup {
  const same = (target: string, a: unknown, b: string) =>
    target === 'userName' || target === WORK_EMAIL ? sameUserName(String(a), b) : a === b;
  return {
    unlinkedBy: (target, value) =>
      rows.filter((r) => r.externalId === null && same(target, readScimValue(r.resource, target), value)),
    byUserName: (userName) => rows.find((r) => sameUserName(r.userName, userName)) ?? null,
  };
}

/** The action's fields the table states, the reason and resource aside; a case's omissions must be absent. */
function described(action: PlannedAction): Expected {
  const out: Expected = {
    kind: action.kind,
    row: action.kind === 'create' ? null : (action.row?.id ?? null),
  };
  if (action.release !== undefined) out.release = action.release;
  if (action.kind === 'skip') out.quiet = action.quiet;
  if (action.kind === 'skip' && action.once) out.once = true;
  if (action.kind === 'error') out.userName = action.userName;
  if (action.kind === 'link') out.matchedOn = action.matchedOn;
  if ('modified' in action) out.modified = action.modified.map((m) => m.target);
  return out;
}

describe('planUser', () => {
  it.each(cases)('$name', ({ facts, settings, rows = [], expected }) => {
    const linked = facts?.linked;
    const action = planUser(
      factsOf(facts),
      settingsOf(settings),
      lookupOf(linked ? [linked, ...rows] : rows),
    );
    const got = described(action);

    expect(got.kind).toBe(expected.kind);
    expect(got.row).toBe(expected.row ?? null);
    expect(got.release).toBe(expected.release);
    expect(got.quiet).toBe(expected.quiet);
    expect(got.userName).toBe(expected.userName);
    expect(got.matchedOn).toBe(expected.matchedOn);
    expect(got.once).toBe(expected.once);
    // Every action says why: a code and a sentence (the audit row's reason).
    expect(action.reason).toMatch(expected.reason ?? /./);
    if (expected.code) expect(action.code).toBe(expected.code);
    else expect(action.code).toMatch(/^[a-z-]+(:.+)?$/);
    if (got.modified || expected.modified) expect(got.modified).toEqual(expected.modified ?? []);
    if (expected.resource) expect('resource' in action && action.resource).toMatchObject(expected.resource);
  });
});

describe('planUser: the manager reference', () => {
  it('a cleared reference is audited old → null and leaves no manager (nor an empty extension) behind', () => {
    const action = planUser(
      factsOf({ attributes: { ...ADA, manager: null }, linked: managed(adaRow(), 'row-boss') }),
      settingsOf({ mappings: 'manager' }),
      lookupOf([]),
    );
    expect(action.kind).toBe('update');
    if (action.kind !== 'update') return;
    expect(action.modified).toEqual([{ target: MANAGER, oldValue: 'row-boss', newValue: null }]);
    expect(action.resource[ENTERPRISE]).toBeUndefined();
    expect(action.resource.schemas).toEqual([USER_SCHEMA]);
  });

  it('a changed manager is audited with both local ids', () => {
    const action = planUser(
      factsOf({
        attributes: { ...ADA, manager: 'entra-other' },
        manager: { entraId: 'entra-other', rowId: 'row-other' },
        linked: managed(adaRow(), 'row-boss'),
      }),
      settingsOf({ mappings: 'manager' }),
      lookupOf([]),
    );
    expect(action.kind === 'update' && action.modified).toEqual([
      { target: MANAGER, oldValue: 'row-boss', newValue: 'row-other' },
    ]);
  });
});
