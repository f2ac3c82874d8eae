import type { UserStore } from './interface.js';

/** Until the groups are implemented: every operation throws. */
export function notImplementedGroups(): UserStore['groups'] {
  const fail = async (): Promise<never> => {
    throw new Error('not implemented');
  };
  return {
    duePlan: fail,
    known: fail,
    unlinkedByDisplayName: fail,
    apply: fail,
    settleMemberships: fail,
    markAllForPlan: fail,
    counts: fail,
    find: fail,
    memberIds: fail,
    // eslint-disable-next-line require-yield
    inDisplayNameOrder: async function* () {
      throw new Error('not implemented');
    },
  };
}
