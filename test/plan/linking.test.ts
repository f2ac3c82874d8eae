/** The planner's linking rules on plain data: no store, no emulator. */
import { describe, expect, it } from 'vitest';
import { compileMappings, DEFAULT_MAPPINGS, type MappingDefinition } from '../../src/mapping/index.js';
import { BatchLookup } from '../../src/plan/batch-lookup.js';
import { planUser } from '../../src/plan/plan.js';
import type { LinkOnlyWhere, PlanSettings, StoreLookup, StoreUser, UserFacts } from '../../src/plan/types.js';
import { foldUserName, sameUserName, userNameProblem } from '../../src/plan/user-name.js';

const settings = (
  linkOnlyWhere: LinkOnlyWhere = 'any',
  defs: readonly MappingDefinition[] = DEFAULT_MAPPINGS,
): PlanSettings => ({
  mappings: compileMappings(defs),
  actions: { create: true, update: true, delete: true },
  evaluation: { now: () => new Date('2026-01-01T00:00:00Z') },
  linkOnlyWhere,
});

const facts = (entraId: string, upn: string): UserFacts => ({
  entraId,
  source: {
    attributes: { userPrincipalName: upn, mail: upn, displayName: upn, accountEnabled: true },
    softDeleted: false,
    released: false,
  },
  hardDeleted: false,
  inScope: true,
  linked: null,
});

const localRow = (id: string, userName: string, linkable: boolean | null = null): StoreUser => ({
  id,
  externalId: null,
  userName,
  displayName: null,
  email: null,
  active: true,
  linkable,
  resource: { userName, active: true },
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
});

/** A store of unlinked rows, userName compared as the store does (ASCII case only). */
function storeOf(rows: StoreUser[]): StoreLookup {
  return {
    unlinkedBy: (target, value) =>
      target === 'userName'
        ? rows.filter((r) => r.externalId === null && sameUserName(r.userName, value))
        : [],
    byUserName: (userName) => rows.find((r) => sameUserName(r.userName, userName)) ?? null,
  };
}

/** Plans users one after the other as evaluateUsers does: each plan recorded before the next. */
function planBatch(users: UserFacts[], s: PlanSettings, store: StoreLookup) {
  const lookup = new BatchLookup(store);
  return users.map((f) => {
    const action = planUser(f, s, lookup);
    lookup.record(action);
    return action;
  });
}

describe('a batch links a row once', () => {
  it('the second user whose userName differs only in case fails, naming the row and the first user', () => {
    const row = localRow('row-1', 'ADMIN@contoso.com');
    const [first, second] = planBatch(
      [facts('e1', 'admin@contoso.com'), facts('e2', 'Admin@Contoso.com')],
      settings(),
      storeOf([row]),
    );
    expect(first).toMatchObject({ kind: 'link', entraId: 'e1', row: { id: 'row-1' } });
    expect(second).toMatchObject({ kind: 'error', entraId: 'e2' });
    expect(second!.kind === 'error' && second!.reason).toMatch(
      /matches local row row-1 \(ADMIN@contoso.com\), which is already linked to e1/,
    );
  });

  it('a second create of one userName (ASCII case aside) fails instead of reaching the store', () => {
    const [first, second] = planBatch(
      [facts('e1', 'new@contoso.com'), facts('e2', 'NEW@contoso.com')],
      settings(),
      storeOf([]),
    );
    expect(first!.kind).toBe('create');
    expect(second).toMatchObject({
      kind: 'error',
      reason: 'userName "NEW@contoso.com" already belongs to another Entra user (e1)',
    });
  });

  it('names differing in non-ASCII case are two names: both are created', () => {
    const actions = planBatch(
      [facts('e1', 'Ärger@contoso.com'), facts('e2', 'ärger@contoso.com')],
      settings(),
      storeOf([]),
    );
    expect(actions.map((a) => a.kind)).toEqual(['create', 'create']);
  });
});

describe('which rows may be linked', () => {
  const rows = () => [
    localRow('r-null', 'null@contoso.com', null),
    localRow('r-yes', 'yes@contoso.com', true),
    localRow('r-no', 'no@contoso.com', false),
  ];
  const kinds = (mode: LinkOnlyWhere) =>
    planBatch(
      [facts('e1', 'null@contoso.com'), facts('e2', 'yes@contoso.com'), facts('e3', 'no@contoso.com')],
      settings(mode),
      storeOf(rows()),
    ).map((a) => a.kind);

  it('any: every row but linkable = 0', () => expect(kinds('any')).toEqual(['link', 'link', 'error']));
  it('linkable: only linkable = 1', () => expect(kinds('linkable')).toEqual(['error', 'link', 'error']));

  it('without matching attributes nothing is linked: a same-named local row fails the user', () => {
    const noMatching = settings('any', [{ target: 'userName', direct: 'userPrincipalName' }]);
    expect(noMatching.mappings.matching).toEqual([]);
    const [action] = planBatch([facts('e1', 'yes@contoso.com')], noMatching, storeOf(rows()));
    expect(action).toMatchObject({ kind: 'error', reason: expect.stringMatching(/linking is off/) });
  });
});

describe('userName rules', () => {
  it('folds ASCII letters only, as SQLite NOCASE', () => {
    expect(foldUserName('AdMiN@Contoso.COM')).toBe('admin@contoso.com');
    expect(foldUserName('Ärger')).toBe('Ärger');
    expect(sameUserName('Ärger', 'ärger')).toBe(false);
    expect(sameUserName('ÄRGER', 'Ärger')).toBe(true);
  });

  it('names the first invisible or control character by code point', () => {
    expect(userNameProblem('plain@contoso.com')).toBeNull();
    expect(userNameProblem('émile@contoso.com')).toBeNull();
    for (const [char, code] of [
      ['\u200b', 'U+200B'],
      ['\u200f', 'U+200F'],
      ['\u202a', 'U+202A'],
      ['\u202e', 'U+202E'],
      ['\u2066', 'U+2066'],
      ['\u2069', 'U+2069'],
      ['\u0080', 'U+0080'],
      ['\u009f', 'U+009F'],
      ['\u0007', 'U+0007'],
    ] as const)
      expect(userNameProblem(`ad${char}min@contoso.com`)).toContain(code);
  });
});
