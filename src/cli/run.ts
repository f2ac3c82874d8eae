import type { Command } from 'commander';
import { loadDaemonConfig } from '../config/daemon.js';
import { loadConfig } from '../config/index.js';
import { runDaemon } from '../daemon/index.js';
import { createLogger } from '../log.js';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run as a daemon: a cycle at start, then on ENTRASYNC_SCHEDULE (default hourly); HTTP /healthz /readyz /metrics /status on ENTRASYNC_HTTP_PORT (default 8080); stops cleanly on SIGTERM/SIGINT',
    )
    .action(async () => {
      // Every setting is validated before anything starts: a bad one exits 2 at once.
      const config = loadConfig();
      const daemon = loadDaemonConfig();
      await runDaemon(config, daemon, createLogger(config.logLevel));
    });
}
