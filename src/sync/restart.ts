import { DeltaStateLostError } from '../graph/errors.js';
import type { CycleContext } from './context.js';

/** Full enumerations attempted after lost delta state, within one cycle, before the cycle fails. */
const MAX_RESTARTS = 2;

/**
 * Runs a delta round from `link`; when Graph says the delta state is gone (expired or reset, even in
 * the middle of a round, even of a full one), starts a full enumeration instead. What the broken
 * round already applied were facts, so nothing is undone.
 */
export async function withDeltaRestarts<T>(
  ctx: CycleContext,
  what: 'users' | 'groups',
  link: string | null,
  round: (link: string | null) => Promise<T>,
): Promise<T> {
  let from = link;
  for (let restarts = 0; ; restarts++) {
    try {
      return await round(from);
    } catch (error) {
      if (!(error instanceof DeltaStateLostError) || restarts >= MAX_RESTARTS) throw error;
      ctx.log.warn(
        { cycleId: ctx.cycleId, status: error.status, code: error.code, restart: restarts + 1 },
        `${what} delta state expired or was reset; full enumeration${what === 'users' ? ' with reconciliation' : ''}`,
      );
      from = null;
    }
  }
}
