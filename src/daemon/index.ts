import type { Config } from '../config/index.js';
import type { DaemonConfig } from '../config/daemon.js';
import type { Logger } from '../log.js';
import { createRuntime } from '../runtime.js';
import { buildStatus } from '../sync/status.js';
import { startHttpServer } from './http.js';
import { DaemonMetrics } from './metrics.js';
import { readiness } from './readiness.js';
import { Scheduler } from './scheduler.js';

type StopSignal = 'SIGTERM' | 'SIGINT';

/**
 * `entrasync run`: HTTP endpoints, a cycle at start, then the cron schedule, until SIGTERM/SIGINT.
 * Resolves once everything is closed. As PID 1 in a container Node has no default action for
 * SIGTERM, so the handlers installed here are what makes `docker stop` end with exit 0.
 */
export async function runDaemon(config: Config, daemon: DaemonConfig, log: Logger): Promise<void> {
  let signalled: (s: StopSignal) => void = () => {};
  const stopRequested = new Promise<StopSignal>((resolve) => (signalled = resolve));
  let scheduler: Scheduler | undefined;
  let stopping = false;
  const onSignal = (signal: StopSignal) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: not waiting for the running cycle any longer');
      scheduler?.hurry();
    }
    stopping = true;
    signalled(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const rt = createRuntime(config, log);
  const metrics = new DaemonMetrics(rt.store, rt.api.stats, daemon.readyMaxAgeSeconds);
  scheduler = new Scheduler(rt, daemon, metrics, log);
  let http;
  try {
    http = await startHttpServer(
      daemon.httpHost,
      daemon.httpPort,
      {
        readyz: () => readiness(rt.store, daemon.readyMaxAgeSeconds),
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.render() }),
        status: () => buildStatus(rt.store, { personal: false }),
      },
      log,
    );
  } catch (error) {
    rt.close();
    const e = error as NodeJS.ErrnoException;
    throw new Error(`cannot listen on ${daemon.httpHost}:${daemon.httpPort}: ${e.code ?? e.message}`);
  }

  if (!stopping) scheduler.start();
  log.info(
    {
      schedule: daemon.schedule,
      timezone: daemon.timezone ?? 'local',
      nextRun: scheduler.nextRun()?.toISOString() ?? null,
      http: `${daemon.httpHost}:${http.port}`,
      port: http.port,
      db: config.dbPath,
      credential: config.credential.kind,
    },
    'daemon started',
  );

  const signal = await stopRequested;
  log.info({ signal, graceSeconds: daemon.shutdownGraceSeconds }, 'shutting down');
  const outcome = await scheduler.stop(daemon.shutdownGraceSeconds * 1000);
  if (outcome === 'interrupted') {
    log.warn(
      { graceSeconds: daemon.shutdownGraceSeconds },
      'the running cycle did not finish within the grace period; it was left between two transactions and will be redone by the next cycle',
    );
  }
  await http.close();
  rt.close();
  log.info({ outcome }, 'daemon stopped');
  // The handlers stay installed: a late signal must not kill the process with 143 now.
  // An interrupted cycle still awaits a Graph answer or a backoff timer: end here, before it wakes
  // up to a closed database. Otherwise leave normally, unless a lingering keep-alive socket of a
  // library holds the event loop open (unref: this timer itself holds nothing).
  if (outcome === 'interrupted') process.exit(0);
  setTimeout(() => process.exit(0), 2000).unref();
}
