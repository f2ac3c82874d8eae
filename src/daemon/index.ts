import type { Config } from '../config/index.js';
import type { DaemonConfig } from '../config/daemon.js';
import type { Logger } from '../log.js';
import { createRuntime } from '../runtime.js';
import { buildStatus } from '../sync/status.js';
import { startHttpServer } from './http.js';
import { DaemonMetrics } from './metrics.js';
import { publicStatus } from './public-status.js';
import { readiness } from './readiness.js';
import { renderStatusPage, STATUS_PAGE_HEADERS, statusPageDocument } from './status-page.js';
import { Scheduler } from './scheduler.js';
import { redactUrl } from '../store/postgres/connection.js';

type StopSignal = 'SIGTERM' | 'SIGINT';

/**
 * `entrasync run`: HTTP endpoints, a cycle at start, then the cron schedule, until SIGTERM/SIGINT.
 * Resolves once everything is closed. As PID 1 in a container Node has no default action for
 * SIGTERM, so the handlers installed here are what makes `docker stop` end with exit 0.
 */
export async function runDaemon(config: Config, daemon: DaemonConfig, log: Logger): Promise<void> {
  // Installed before the first await: no signal can arrive earlier, as signals are events too.
  let signalled: (s: StopSignal) => void = () => {};
  const stopRequested = new Promise<StopSignal>((resolve) => (signalled = resolve));
  let stopping = false;
  // Made once the store is open; a second signal before then has no cycle to cut short.
  const started: { scheduler?: Scheduler } = {};
  const onSignal = (signal: StopSignal) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: not waiting for the running cycle any longer');
      started.scheduler?.hurry();
    }
    stopping = true;
    signalled(signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  const rt = await createRuntime(config, log);
  const metrics = new DaemonMetrics(rt.store, rt.api.stats, daemon.readyMaxAgeSeconds);
  const scheduler = new Scheduler(rt, daemon, metrics, log);
  started.scheduler = scheduler;

  let http;
  try {
    http = await startHttpServer(
      daemon.httpHost,
      daemon.httpPort,
      {
        readyz: () => readiness(rt.store, daemon.readyMaxAgeSeconds),
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.render() }),
        status: async () => publicStatus(await buildStatus(rt.store, { personal: false })),
        page: async () => {
          const showUsers = daemon.showUsers === true;
          const doc = await statusPageDocument(rt.store, showUsers);
          return { headers: STATUS_PAGE_HEADERS, body: renderStatusPage(doc, { showUsers }) };
        },
      },
      log,
    );
  } catch (error) {
    await rt.close();
    const e = error as NodeJS.ErrnoException;
    throw new Error(`cannot listen on ${daemon.httpHost}:${daemon.httpPort}: ${e.code ?? e.message}`, {
      cause: error,
    });
  }

  if (!stopping) scheduler.start();
  log.info(
    {
      schedule: daemon.schedule,
      timezone: daemon.timezone ?? 'local',
      nextRun: scheduler.nextRun()?.toISOString() ?? null,
      http: `${daemon.httpHost}:${http.port}`,
      port: http.port,
      db: redactUrl(config.dbPath),
      credential: config.credential.kind,
    },
    'daemon started',
  );

  const signal = await stopRequested;
  log.info({ signal, graceSeconds: daemon.shutdownGraceSeconds }, 'shutting down');
  const outcome = await scheduler.stop(daemon.shutdownGraceSeconds * 1000);
  if (outcome === 'interrupted') {
    // The store is closed already; the cycle still awaits a Graph answer or a backoff timer and
    // must not wake up to find it so: end here.
    log.warn(
      {
        outcome,
        graceSeconds: daemon.shutdownGraceSeconds,
        note: 'the cycle did not finish within the grace period; it was left between two transactions and the next cycle fetches its changes again',
      },
      'daemon stopped',
    );
    process.exit(0);
  }
  await http.close();
  await rt.close();
  log.info({ outcome }, 'daemon stopped');
  // The signal handlers stay installed: a late signal must not end the process with 143 now. Leave
  // normally, unless a library's keep-alive socket holds the event loop open (the timer is unref'd:
  // it holds nothing itself).
  setTimeout(() => process.exit(0), 2000).unref();
}
