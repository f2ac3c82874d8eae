import type { UserFacts } from './types.js';

/**
 * Why an action was planned, as its audit row says it: a machine-readable code and a sentence.
 * The codes are listed in README, "Reading the audit"; the deprovisioning causes follow
 * graph-semantics §6.4.
 */
export interface Reason {
  code: string;
  reason: string;
}

/** What took a user out of Entra's hands, when one did (§6.4), in the order the planner checks. */
export type Cause = 'soft-delete' | 'scope' | 'disabled' | null;

export function causeOf(facts: UserFacts): Cause {
  const { source } = facts;
  if (!source) return null;
  if (source.softDeleted) return 'soft-delete';
  if (!facts.inScope) return 'scope';
  return source.attributes.accountEnabled === false ? 'disabled' : null;
}

export const reason = (code: string, text: string): Reason => ({ code, reason: text });

/** Why a linked user is disabled: the cause of §6.4 that applies, else its mapped `active`. */
export function disableReason(cause: Cause, facts: UserFacts): Reason {
  switch (cause) {
    case 'soft-delete':
      return reason('soft-deleted', 'soft-deleted in Entra (in the recycle bin)');
    case 'disabled':
      return reason('disabled-in-entra', 'disabled in Entra (accountEnabled false)');
    case 'scope':
      return facts.leftGroup
        ? reason(
            `left-group:${facts.leftGroup}`,
            `left group ${facts.leftGroup}, which gave it scope, and is no longer assigned otherwise`,
          )
        : reason('unassigned', 'no longer assigned to the application (directly or through a group)');
    default:
      return reason('attributes-changed', 'the mapped active value became false');
  }
}

/** Why a user is created: how it is in scope. */
export function createReason(facts: UserFacts): Reason {
  const how =
    facts.scopeVia === 'group'
      ? 'in scope: through an assigned group'
      : facts.scopeVia === 'all'
        ? 'in scope: all users are'
        : 'in scope: assigned directly';
  return reason('new-assignment', how);
}

/** A user never created and out of Entra's hands at first sight: not created (§6.4). */
export function firstSightReason(cause: Exclude<Cause, null>): Reason {
  return {
    scope: reason('not-assigned', 'out of scope: not assigned (directly or through any assigned group)'),
    'soft-delete': reason('soft-deleted', 'soft-deleted in Entra and never created'),
    disabled: reason(
      'disabled-in-entra',
      'disabled in Entra and never created; disabled users are not created',
    ),
  }[cause];
}
