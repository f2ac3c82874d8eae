import { InvalidArgumentError, type Command } from 'commander';
import type { EmulatorCommandOptions } from '../emulator/main.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${name} expects a whole number, got "${v}"`);
  return n;
};

export function registerEmulatorCommand(program: Command): void {
  program
    .command('emulator')
    .description(
      'run the Entra ID + Microsoft Graph emulator (HTTPS on 127.0.0.1) for tests, demos and benchmarks',
    )
    .option('--port <n>', 'port (default: ephemeral)', int('--port'))
    .option('--users <n>', 'seed this many users', int('--users'))
    .option('--groups <n>', 'seed this many groups', int('--groups'))
    .option(
      '--assign-every <k>',
      'assign every k-th seeded user (and some groups) to the app',
      int('--assign-every'),
    )
    .option('--seed <s>', 'random seed for the seeded tenant', int('--seed'))
    .option('--page-size <n>', 'objects per delta page (default 200)', int('--page-size'))
    .action(async (opts: EmulatorCommandOptions) => {
      // Imported lazily: the product never loads the emulator unless asked to.
      const { runEmulatorCommand } = await import('../emulator/main.js');
      await runEmulatorCommand(opts);
    });
}
