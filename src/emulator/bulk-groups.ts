import { badRequest } from './errors.js';

/**
 * A bench-sized group layout over a bulk range of users: a few large groups, many small ones, and a
 * second membership for every fourth user, so sizes range from tens to `largest` members.
 */
export interface BulkGroupsSpec {
  /** Slot of the first user of the range (what bulkCreateUsers returned) and how many users it has. */
  first: number;
  users: number;
  groups: number;
  /** Members of each of the ten large groups; the other groups share the remaining users. */
  largest: number;
  /** Assign every group to the application. */
  assign: boolean;
}

export interface BulkGroupsPlan {
  /** Per group, the user slots (relative to `first`) that are its members. */
  members: number[][];
}

export const LARGE_GROUPS = 10;

export function bulkGroupsPlan(spec: BulkGroupsSpec): BulkGroupsPlan {
  const { users, groups, largest } = spec;
  if (!Number.isInteger(users) || users < 1) throw badRequest('users must be a positive integer');
  if (!Number.isInteger(groups) || groups <= LARGE_GROUPS)
    throw badRequest(`groups must be more than ${LARGE_GROUPS}`);
  if (!Number.isInteger(largest) || largest < 1) throw badRequest('largest must be a positive integer');
  const members: number[][] = Array.from({ length: groups }, () => []);
  const small = groups - LARGE_GROUPS;
  for (let i = 0; i < users; i++) {
    const primary = i < LARGE_GROUPS * largest ? Math.floor(i / largest) : LARGE_GROUPS + (i % small);
    members[primary]!.push(i);
    // A second, small group for every fourth user (never a large one, which stays at `largest`).
    if (i % 4 === 0) {
      const second = LARGE_GROUPS + ((i * 7 + 3) % small);
      if (second !== primary) members[second]!.push(i);
    }
  }
  return { members };
}
