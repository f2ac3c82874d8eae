import type { Command } from 'commander';
import { loadDaemonConfig } from '../config/daemon.js';
import { ConfigProblems } from '../config/errors.js';
import { loadConfig } from '../config/index.js';
import { runDaemon } from '../daemon/index.js';
import { createLogger } from '../log.js';
import { cronSchedule, tcpPort } from './options.js';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run as a daemon: a cycle at start, then on ENTRASYNC_SCHEDULE (default hourly); HTTP /healthz /readyz /metrics /status and a status page at / on ENTRASYNC_HTTP_HOST:ENTRASYNC_HTTP_PORT (default 127.0.0.1:8080); stops cleanly on SIGTERM/SIGINT',
    )
    .option('--port <n>', 'HTTP port (overrides ENTRASYNC_HTTP_PORT; 0: any free port)', tcpPort)
    .option('--schedule <cron>', 'cron schedule (overrides ENTRASYNC_SCHEDULE)', cronSchedule)
    .action(async (flags: { port?: number; schedule?: string }) => {
      // Every setting is validated before anything starts: all bad ones exit 2 at once, together.
      const problems = new ConfigProblems();
      const config = problems.check(() => loadConfig());
      const daemon = problems.check(() =>
        loadDaemonConfig(process.env, { httpPort: flags.port, schedule: flags.schedule }),
      );
      problems.done();
      await runDaemon(config!, daemon!, createLogger(config!.logLevel));
    });
}
