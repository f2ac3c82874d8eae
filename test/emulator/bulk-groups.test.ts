/**
 * The bench's group layout: sizes from tens up to `largest`, every user a member somewhere, groups
 * assigned, and Graph's groups/delta listing every membership once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bulkGroupsPlan, LARGE_GROUPS } from '../../src/emulator/bulk-groups.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { graphClient, type Item } from './helpers.js';

describe('bulkGroupsPlan', () => {
  it('puts every user in a group, no group above `largest`, every fourth user in a second group', () => {
    const { members } = bulkGroupsPlan({ first: 0, users: 10_000, groups: 50, largest: 500, assign: true });
    expect(members).toHaveLength(50);
    const sizes = members.map((m) => m.length);
    expect(Math.max(...sizes)).toBe(500);
    expect(sizes.slice(0, LARGE_GROUPS)).toEqual(Array(LARGE_GROUPS).fill(500));
    const seen = new Map<number, number>();
    for (const m of members) for (const i of m) seen.set(i, (seen.get(i) ?? 0) + 1);
    expect(seen.size).toBe(10_000);
    for (const [i, n] of seen) expect(n).toBe(i % 4 === 0 ? n : 1);
    const twice = [...seen.values()].filter((n) => n === 2).length;
    expect(twice).toBeGreaterThan(2000);
    expect(Math.max(...seen.values())).toBe(2);
    for (const m of members) expect(new Set(m).size).toBe(m.length);
  });

  it('refuses a layout it cannot make', () => {
    expect(() => bulkGroupsPlan({ first: 0, users: 10, groups: 10, largest: 5, assign: false })).toThrow(
      /groups must be more than 10/,
    );
    expect(() => bulkGroupsPlan({ first: 0, users: 10, groups: 20, largest: 0, assign: false })).toThrow(
      /largest/,
    );
  });
});

describe('POST /_ctl/bulkGroups', () => {
  let emu: RunningEmulator;
  beforeEach(async () => {
    emu = await startTestEmulator();
  });
  afterEach(() => emu.close());

  const ctl = async (path: string, body: unknown) => {
    const res = await fetch(`${emu.url}/_ctl${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('creates the groups over a bulk range, assigned, and groups/delta lists their members', async () => {
    const bulk = await ctl('/bulk', { users: 600 });
    const first = (bulk.body as { first: number }).first;
    const made = await ctl('/bulkGroups', { first, users: 600, groups: 12, largest: 40, assign: true });
    expect(made.status).toBe(201);
    const ids = (made.body as { ids: string[] }).ids;
    expect(ids).toHaveLength(12);

    const client = graphClient(emu);
    const members = new Map<string, number>();
    let next: string | undefined = '/groups/delta?$select=displayName,members';
    while (next) {
      const page = (await client.api(next).get()) as Item & { value: Item[] };
      for (const g of page.value)
        members.set(
          g.id as string,
          (members.get(g.id as string) ?? 0) + ((g['members@delta'] as unknown[] | undefined)?.length ?? 0),
        );
      next = page['@odata.nextLink'] as string | undefined;
    }
    const plan = bulkGroupsPlan({ first, users: 600, groups: 12, largest: 40, assign: true });
    expect(ids.map((id) => members.get(id))).toEqual(plan.members.map((m) => m.length));

    const assigned = (await client
      .api(`/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo`)
      .get()) as { value: Item[] };
    expect(
      assigned.value
        .filter((a) => a.principalType === 'Group')
        .map((a) => a.principalId)
        .sort(),
    ).toEqual([...ids].sort());
  });

  it('answers 400 for a layout it cannot make', async () => {
    await ctl('/bulk', { users: 10 });
    const bad = await ctl('/bulkGroups', { first: 0, users: 10, groups: 3, largest: 5, assign: true });
    expect(bad.status).toBe(400);
  });
});
