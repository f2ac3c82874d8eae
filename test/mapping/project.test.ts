import { describe, expect, it } from 'vitest';
import {
  compileMappings,
  DEFAULT_MAPPINGS,
  ENTERPRISE_SCHEMA,
  projectMappings,
  readScimValue,
  USER_SCHEMA,
  type EvaluatedMapping,
  type ScimUserResource,
} from '../../src/mapping/index.js';
import { ctx, input } from './helpers.js';

const m = (
  target: string,
  value: EvaluatedMapping['value'],
  extra: Partial<EvaluatedMapping> = {},
): EvaluatedMapping => ({
  target,
  value,
  defaultValue: null,
  apply: 'always',
  ...extra,
});

describe('projectMappings: create', () => {
  it('builds the SCIM resource of the default mappings', () => {
    const c = compileMappings(DEFAULT_MAPPINGS);
    const ev = c.evaluate(input({ userPrincipalName: 'a@c.com', mail: 'a@c.com', displayName: 'A' }), ctx());
    const { resource, modified } = projectMappings(null, ev, 'create');
    expect(resource).toEqual({
      schemas: [USER_SCHEMA],
      userName: 'a@c.com',
      emails: [{ type: 'work', value: 'a@c.com' }],
      active: true,
      displayName: 'A',
    });
    expect(modified).toEqual([
      { target: 'userName', oldValue: null, newValue: 'a@c.com' },
      { target: 'emails[type eq "work"].value', oldValue: null, newValue: 'a@c.com' },
      { target: 'active', oldValue: null, newValue: true },
      { target: 'displayName', oldValue: null, newValue: 'A' },
    ]);
  });

  it('uses defaultValue for null sources, skips nulls, includes create-only mappings', () => {
    const { resource } = projectMappings(
      null,
      [
        m('userName', 'u'),
        m(`${ENTERPRISE_SCHEMA}:department`, null, { defaultValue: 'Unassigned' }),
        m('title', 'Employee', { apply: 'create-only' }),
        m('nickName', null),
        m('name.givenName', 'John'),
        m('name.familyName', 'Doe'),
        m('addresses[type eq "work"].locality', 'Utrecht'),
        m('addresses[type eq "work"].country', 'NL'),
        m('phoneNumbers[type eq "mobile"].value', '+31 6'),
      ],
      'create',
    );
    expect(resource).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
      userName: 'u',
      [ENTERPRISE_SCHEMA]: { department: 'Unassigned' },
      title: 'Employee',
      name: { givenName: 'John', familyName: 'Doe' },
      addresses: [{ type: 'work', locality: 'Utrecht', country: 'NL' }],
      phoneNumbers: [{ type: 'mobile', value: '+31 6' }],
    });
  });

  it('skips mappings of an object flagged skipObject', () => {
    const { resource } = projectMappings(
      null,
      [m('userName', 'u'), m('userType', null, { skipObject: true })],
      'create',
    );
    expect(resource).toEqual({ schemas: [USER_SCHEMA], userName: 'u' });
  });
});

describe('projectMappings: update', () => {
  const existing: ScimUserResource = {
    schemas: [USER_SCHEMA],
    userName: 'u',
    title: 'Old',
    active: true,
    emails: [
      { type: 'home', value: 'h@x' },
      { type: 'work', value: 'w@x', primary: true },
    ],
  };

  it('never applies defaultValue, skips create-only and null values', () => {
    const { resource, modified } = projectMappings(
      existing,
      [
        m('userName', 'u'),
        m('title', 'New title', { apply: 'create-only' }),
        m('emails[type eq "work"].value', null),
        m(`${ENTERPRISE_SCHEMA}:department`, null, { defaultValue: 'Unassigned' }),
      ],
      'update',
    );
    expect(resource).toEqual(existing);
    expect(modified).toEqual([]);
  });

  it('updates only the selected element of a multi-valued attribute and reports real changes', () => {
    const { resource, modified } = projectMappings(
      existing,
      [m('userName', 'u'), m('emails[type eq "work"].value', 'new@x'), m('active', false)],
      'update',
    );
    expect(resource.emails).toEqual([
      { type: 'home', value: 'h@x' },
      { type: 'work', value: 'new@x', primary: true },
    ]);
    expect(modified).toEqual([
      { target: 'emails[type eq "work"].value', oldValue: 'w@x', newValue: 'new@x' },
      { target: 'active', oldValue: true, newValue: false },
    ]);
  });

  it('adds a missing element and the enterprise schema; does not mutate existing', () => {
    const before = structuredClone(existing);
    const { resource, modified } = projectMappings(
      existing,
      [m('emails[type eq "other"].value', 'o@x'), m(`${ENTERPRISE_SCHEMA}:costCenter`, 'CC1')],
      'update',
    );
    expect(existing).toEqual(before);
    expect((resource.emails as unknown[])[2]).toEqual({ type: 'other', value: 'o@x' });
    expect(resource.schemas).toEqual([USER_SCHEMA, ENTERPRISE_SCHEMA]);
    expect(resource[ENTERPRISE_SCHEMA]).toEqual({ costCenter: 'CC1' });
    expect(modified.map((x) => x.target)).toEqual([
      'emails[type eq "other"].value',
      `${ENTERPRISE_SCHEMA}:costCenter`,
    ]);
  });

  it('a soft-deleted user becomes an update of active only', () => {
    const c = compileMappings(DEFAULT_MAPPINGS);
    const ev = c.evaluate(
      input({ userPrincipalName: 'u', displayName: 'A', mail: 'w@x' }, { isSoftDeleted: true }),
      ctx({ mode: 'update' }),
    );
    const { modified } = projectMappings({ ...existing, displayName: 'A' }, ev, 'update');
    expect(modified).toEqual([{ target: 'active', oldValue: true, newValue: false }]);
  });
});

describe('readScimValue', () => {
  const r: ScimUserResource = {
    userName: 'u',
    active: false,
    name: { givenName: 'G' },
    emails: [{ type: 'Work', value: 'w@x' }],
    [ENTERPRISE_SCHEMA]: { department: 'D' },
  };
  it('reads every path form; absent → null', () => {
    expect(readScimValue(r, 'userName')).toBe('u');
    expect(readScimValue(r, 'active')).toBe(false);
    expect(readScimValue(r, 'name.givenName')).toBe('G');
    expect(readScimValue(r, 'name.familyName')).toBeNull();
    expect(readScimValue(r, 'emails[type eq "work"].value')).toBe('w@x');
    expect(readScimValue(r, 'emails[type eq "home"].value')).toBeNull();
    expect(readScimValue(r, `${ENTERPRISE_SCHEMA}:department`)).toBe('D');
    expect(readScimValue(r, `${ENTERPRISE_SCHEMA}:division`)).toBeNull();
    expect(readScimValue({}, 'addresses[type eq "work"].region')).toBeNull();
  });
  it('throws for an unsupported path', () => {
    expect(() => readScimValue(r, 'shoeSize')).toThrow(/unknown target/);
  });
});
