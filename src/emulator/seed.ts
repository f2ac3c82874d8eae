import type { Directory } from './directory.js';
import { seededUuid } from './ids.js';
import { groupName } from './names.js';

export interface SeedOptions {
  users: number;
  groups?: number;
  assignEvery?: number;
  seed?: number;
}

/** A small deterministic PRNG (mulberry32): the same tenant, or the same churn, on every run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A realistic tenant, fully determined by the seed: bulk users (names in several scripts, guests,
 * users without mail, disabled users), groups of varied size with one large enough to be split
 * across groups/delta pages, and a nested group inside an assigned group. Every third group is
 * assigned to the app; with assignEvery K, every Kth user is assigned directly too.
 */
export function seedTenant(dir: Directory, o: SeedOptions): void {
  const seed = o.seed ?? 1;
  if (o.users < 1) return;
  const { first, count } = dir.bulkCreateUsers(o.users, { assignEvery: o.assignEvery ?? 0, seed });
  const rnd = mulberry32(seed);
  const groupCount = o.groups ?? Math.min(20, Math.max(2, Math.ceil(o.users / 50)));
  const groupIds: string[] = [];
  for (let g = 0; g < groupCount; g++) {
    const size = g === 0 ? Math.min(count, 1200) : 1 + Math.floor(rnd() * Math.min(count, 200));
    const members = new Set<number>();
    while (members.size < size) members.add(first + Math.floor(rnd() * count));
    const id = seededUuid(seed, 1_000_000 + g);
    dir.createGroup({
      id,
      displayName: groupName(seed, g),
      description: g === 1 ? 'Nested inside the first group' : `Seeded group ${g}`,
      members: [...members].map((i) => dir.userIdAt(i)),
    });
    groupIds.push(id);
    if (g % 3 === 0) dir.assign(id, 'Group');
  }
  // Entra ignores nested members when provisioning; the emulator must still report them.
  if (groupIds.length >= 2) dir.addMember(groupIds[0]!, groupIds[1]!);
}
