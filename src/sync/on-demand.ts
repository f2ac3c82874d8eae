import { randomUUID } from 'node:crypto';
import { acquireCycleLease, cycleContext, leaseOwner, type CycleContext, type CycleDeps } from './context.js';
import type { ProvisionStep } from './provision.js';

/** What an on-demand run hands its body: the context, its cycle id and the step trace to fill. */
export interface OnDemandRun {
  ctx: CycleContext;
  cycleId: string;
  steps: ProvisionStep[];
}

/**
 * The frame of a provision on demand (a user's or a group's): the cycle lease, an `on-demand` cycle
 * record, and its end recorded as failed when any step failed; the lease released whatever happens.
 */
export async function onDemand<T>(
  deps: CycleDeps,
  body: (run: OnDemandRun) => Promise<T>,
  counts: (ctx: CycleContext) => Record<string, number> = (ctx) => ctx.counts,
): Promise<T> {
  const { store } = deps;
  const cycleId = randomUUID();
  const steps: ProvisionStep[] = [];
  const lease = await acquireCycleLease(deps, leaseOwner(`provision ${cycleId}`));
  const ctx = cycleContext(deps, cycleId);
  await store.write(() => store.cycles.start(cycleId, 'on-demand', false), 'provision');
  try {
    return await body({ ctx, cycleId, steps });
  } finally {
    await store.write(
      () =>
        store.cycles.finish(
          cycleId,
          steps.some((s) => s.status === 'failure') ? 'failed' : 'succeeded',
          counts(ctx),
          0,
        ),
      'provision',
    );
    await lease.release();
  }
}
