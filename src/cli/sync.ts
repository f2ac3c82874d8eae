import type { Command } from 'commander';
import type { PlannedAction } from '../plan/types.js';
import { readScimValue } from '../mapping/index.js';
import { runCycle } from '../sync/cycle.js';
import { CommandFailed, print, printJson, withRuntime } from './common.js';
import { escapeControls as esc } from './text.js';

interface SyncFlags {
  dryRun?: boolean;
  json?: boolean;
}

function describe(action: PlannedAction): Record<string, unknown> {
  const userName =
    'resource' in action
      ? readScimValue(action.resource, 'userName')
      : 'row' in action && action.row
        ? action.row.userName
        : action.kind === 'error'
          ? action.userName
          : null;
  return {
    action: action.kind,
    entraId: action.entraId,
    userName,
    ...('modified' in action && action.modified.length ? { modified: action.modified } : {}),
    ...(action.kind === 'skip' || action.kind === 'error' ? { reason: action.reason } : {}),
  };
}

function formatChange(c: Record<string, unknown>): string {
  const mods = (c.modified as { target: string; oldValue: unknown; newValue: unknown }[] | undefined) ?? [];
  const detail = mods
    .map(
      (m) =>
        `\n    ${esc(m.target)}: ${esc(JSON.stringify(m.oldValue) ?? 'null')} -> ${esc(JSON.stringify(m.newValue) ?? 'null')}`,
    )
    .join('');
  const reason = c.reason ? ` (${esc(String(c.reason))})` : '';
  return `  ${String(c.action).padEnd(8)} ${esc(String(c.userName ?? c.entraId))}${reason}${detail}`;
}

async function syncCommand(flags: SyncFlags, forced: boolean): Promise<void> {
  // A dry run prints the plan on stdout, so its logs go to stderr.
  await withRuntime(
    async (rt) => {
      const changes: Record<string, unknown>[] = [];
      const result = await runCycle(rt, {
        forced,
        dryRun: flags.dryRun,
        onAction: flags.dryRun
          ? (a) => {
              if (!(a.kind === 'skip' && a.quiet)) changes.push(describe(a));
            }
          : undefined,
      });
      if (flags.dryRun) {
        if (flags.json)
          printJson({
            dryRun: true,
            kind: result.kind,
            status: result.status,
            counts: result.counts,
            changes,
          });
        else {
          print(`Dry run (${result.kind}): nothing was written.`);
          print(`Counts: ${JSON.stringify(result.counts)}`);
          for (const c of changes) print(formatChange(c));
        }
      } else if (flags.json) {
        printJson({
          cycleId: result.cycleId,
          kind: result.kind,
          status: result.status,
          counts: result.counts,
        });
      }
      if (result.status === 'failed') throw new CommandFailed(result.error?.message ?? 'the cycle failed');
    },
    flags.dryRun || flags.json ? 'stderr' : 'stdout',
    { memoryIfMissing: flags.dryRun },
  );
}

export function registerSyncCommands(program: Command): void {
  program
    .command('sync')
    .description('run one sync cycle now (incremental when a delta state exists)')
    .option('--dry-run', 'print the plan (counts and each change) and write nothing, not even the delta link')
    .option('--json', 'print the result as JSON (logs go to stderr)')
    .action((flags: SyncFlags) => syncCommand(flags, false));
  program
    .command('resync')
    .description(
      'forget the delta state and run a full enumeration with reconciliation ("restart provisioning")',
    )
    .option('--dry-run', 'print the plan and write nothing')
    .option('--json', 'print the result as JSON (logs go to stderr)')
    .action((flags: SyncFlags) => syncCommand(flags, true));
}
