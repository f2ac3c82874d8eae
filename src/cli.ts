#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerDiagnoseCommands } from './cli/diagnose.js';
import { registerEmulatorCommand } from './cli/emulator.js';
import { registerInspectCommands } from './cli/inspect.js';
import { registerMappingsCommands } from './cli/mappings.js';
import { registerRunCommand } from './cli/run.js';
import { registerSyncCommands } from './cli/sync.js';
import { registerSafetyCommands } from './cli/safety.js';
import { CommandFailed, EXIT_CONFIG, EXIT_FAILED, exitCodeFor } from './cli/common.js';
import { ConfigError } from './config/index.js';
import { escapeControls } from './cli/text.js';
import { addEnvironmentHelp } from './cli/help-environment.js';
import { unsafeRuntimeReason } from './store/runtime-guard.js';

// Before anything opens the store: on these runtimes the daemon dies later, at random, with SIGABRT.
const unsafeRuntime = unsafeRuntimeReason(process.versions.node);
if (unsafeRuntime) {
  process.stderr.write(`entrasync: ${unsafeRuntime}\n`);
  process.exit(EXIT_CONFIG);
}

// A reader that stops early (`users export | head`) ends the output, not with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});
// Logs into a stderr whose reader is gone are lost, not fatal: the command's output and exit code stand.
process.stderr.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
});

const program = new Command('entrasync')
  .description(
    'Pull users assigned to a Microsoft Entra ID application into a user store (SQLite or PostgreSQL)',
  )
  .version('0.1.0')
  .exitOverride()
  .showHelpAfterError(false);

registerSyncCommands(program);
registerSafetyCommands(program);
registerInspectCommands(program);
registerDiagnoseCommands(program);
registerMappingsCommands(program);
registerRunCommand(program);
registerEmulatorCommand(program);
addEnvironmentHelp(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with code 0; usage errors are exit 2.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_CONFIG;
  } else if (error instanceof ConfigError) {
    // Every problem found, one a line: a first run learns all the missing settings at once.
    for (const p of error.problems)
      process.stderr.write(
        `entrasync: configuration error: ${escapeControls(`${p.setting}: ${p.message}`)}\n`,
      );
    process.exitCode = EXIT_CONFIG;
  } else {
    // A cycle's error can quote Graph data: control and bidi characters are escaped, as in `status`.
    process.stderr.write(`entrasync: ${escapeControls((error as Error).message)}\n`);
    process.exitCode = error instanceof CommandFailed ? EXIT_FAILED : exitCodeFor(error);
  }
}
