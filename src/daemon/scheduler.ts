import { createTask, type ScheduledTask } from 'node-cron';
import type { DaemonConfig } from '../config/daemon.js';
import type { Logger } from '../log.js';
import type { Runtime } from '../runtime.js';
import { scheduledCycleDue } from '../safety/quarantine.js';
import { StoreWaitAborted, leaseOwner } from '../store/index.js';
import { cycleLease } from '../sync/context.js';
import { runCycle } from '../sync/cycle.js';
import type { DaemonMetrics } from './metrics.js';

export type Trigger = 'start' | 'schedule';

/** Any successful cycle ends a quarantine, and an operator's sync is never held back by one. */
const QUARANTINE_WAY_OUT = 'run `entrasync sync` to lift it (a successful cycle ends the quarantine)';
/** idle: no cycle was running; finished: it ended within the grace period; interrupted: it did not. */
export type StopOutcome = 'idle' | 'finished' | 'interrupted';

/**
 * Runs a cycle at start and on each cron tick, never two at once: a tick that finds a cycle running,
 * here or in another process (the database lease), is skipped and logged, not queued.
 */
export class Scheduler {
  private task?: ScheduledTask;
  private current?: { owner: string; done: Promise<void> };
  private seq = 0;
  private stopping = false;
  private cutShort?: () => void;

  constructor(
    private readonly rt: Runtime,
    private readonly config: DaemonConfig,
    private readonly metrics: DaemonMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.tick('start');
    this.task = createTask(this.config.schedule, () => this.tick('schedule'), {
      name: 'entrasync',
      ...(this.config.timezone ? { timezone: this.config.timezone } : {}),
      logger: cronLogger(this.log),
    });
    void this.task.start();
  }

  nextRun(): Date | null {
    return this.task?.getNextRun() ?? null;
  }

  /**
   * One tick; returns at once, the cycle runs in the background. A tick that waits for the store's
   * write lock (to take the lease) counts as running: the next tick is skipped as busy.
   */
  tick(trigger: Trigger): void {
    if (this.stopping) return;
    if (this.current) return this.skip(trigger, 'busy', 'a cycle of this daemon is still running');
    const owner = leaseOwner(`entrasync run cycle ${++this.seq}`);
    const done = this.tryTick(trigger, owner)
      .catch((error: Error) => {
        if (error instanceof StoreWaitAborted) this.log.info({ trigger }, 'tick stopped: shutting down');
        // E.g. the database stayed locked beyond its busy timeout: the next tick tries again.
        else this.log.error({ trigger, error: error.message }, 'tick failed');
      })
      .finally(() => {
        this.current = undefined;
      });
    this.current = { owner, done };
  }

  private async tryTick(trigger: Trigger, owner: string): Promise<void> {
    const { store } = this.rt;
    // Quarantine: after repeated failures scheduled cycles space out (operators' sync/resync do not).
    const { due, quarantine } = await scheduledCycleDue(store);
    if (!due) {
      // A warning, not a note: the daemon does nothing until the next attempt (up to a day away),
      // and failed trial runs before the first `run` are enough to get here. Say when and how out.
      this.metrics.tickSkipped('quarantine');
      const failureClass = quarantine.startedBy?.failureClass ?? null;
      this.log.warn(
        {
          trigger,
          reason: 'quarantine',
          quarantineReason: quarantine.reason,
          consecutiveFailures: quarantine.consecutiveFailures,
          nextAttemptAt: quarantine.nextAttemptAt,
          lastError: quarantine.lastError,
          startedByFailureClass: failureClass,
          wayOut: QUARANTINE_WAY_OUT,
        },
        `tick skipped: quarantined after ${quarantine.consecutiveFailures} failed cycles in a row (${quarantine.reason}, started by a ${failureClass ?? 'unknown'} failure); next scheduled attempt at ${quarantine.nextAttemptAt}; ${QUARANTINE_WAY_OUT}`,
      );
      return;
    }
    // Take the lease here rather than let runCycle wait for it: a tick must not queue behind a CLI
    // resync. runCycle then re-takes the same lease under the same owner without waiting.
    const lease = cycleLease(this.rt, owner);
    const holder = await lease.tryAcquire();
    if (holder) {
      return this.skip(trigger, 'lease', 'another process is running a cycle', { holder: holder.owner });
    }
    if (this.stopping) return lease.release();
    await runCycle(this.rt, { owner })
      .then((result) => this.metrics.cycleFinished(result))
      .catch((error: Error) => this.log.error({ error: error.message, trigger }, 'cycle crashed'));
  }

  private skip(trigger: Trigger, reason: 'busy' | 'lease', why: string, extra = {}): void {
    this.metrics.tickSkipped(reason);
    this.log.info({ trigger, reason, ...extra }, `tick skipped: ${why}`);
  }

  /** A second signal ends the wait at once. */
  hurry(): void {
    this.cutShort?.();
  }

  /**
   * Stops scheduling and waits up to the grace period for a running cycle. Every write of a cycle is
   * a synchronous SQLite transaction, so while this waits the cycle is always between two
   * transactions: if time runs out, the store is consistent as it is, and the delta link, written
   * last, is still the previous one. The cycle is then recorded as aborted, its lease released and
   * the store closed. Writes waiting for another connection's write lock give up at once, so a
   * store locked by the application does not hold the stop up.
   */
  async stop(graceMs: number): Promise<StopOutcome> {
    this.stopping = true;
    // A write waiting for the application's lock gives up now: the cycle ends as if interrupted.
    this.rt.store.lockWaits.abort("stopping: not waiting for the store's write lock");
    await this.task?.destroy();
    const current = this.current;
    if (!current) return 'idle';
    this.log.info({ graceMs, cycle: current.owner }, 'waiting for the running cycle to finish');
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      current.done.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
        this.cutShort = () => resolve(false);
      }),
    ]);
    clearTimeout(timer);
    if (finished) return 'finished';
    try {
      await this.rt.store.closeInterrupted(current.owner);
    } catch (error) {
      // The store is locked (the wait was aborted above): the next cycle marks this one aborted.
      this.log.warn({ error: (error as Error).message }, 'could not record the cycle as aborted');
    }
    this.rt.close();
    return 'interrupted';
  }
}

/** node-cron writes coloured console lines by default; route them through the JSON log. */
function cronLogger(log: Logger) {
  const child = log.child({ component: 'node-cron' });
  return {
    info: (m: string) => child.debug(m),
    warn: (m: string) => child.warn(m),
    error: (m: string | Error, e?: Error) => child.error({ error: String(e ?? m) }, String(m)),
    debug: (m: string | Error) => child.debug(String(m)),
  };
}
