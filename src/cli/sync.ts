import type { Command } from 'commander';
import type { PlannedAction } from '../plan/types.js';
import type { GroupAction } from '../plan/groups.js';
import { readScimValue } from '../mapping/index.js';
import { logFormatFromEnv, useLogFormat } from '../log.js';
import type { Runtime } from '../runtime.js';
import { failureClass } from '../safety/quarantine.js';
import { MAX_COUNTED, runCycle, type CycleOptions, type CycleResult } from '../sync/cycle.js';
import type { CycleProgress } from '../sync/progress.js';
import { CommandFailed, print, printJson, withRuntime } from './common.js';
import {
  countsTable,
  groupCountsLines,
  limited,
  logFormat,
  ProgressBar,
  summaryText,
  type TerminalFlags,
} from './human.js';
import { escapeControls as esc } from './text.js';

interface SyncFlags extends TerminalFlags {
  dryRun?: boolean;
  json?: boolean;
  all?: boolean;
}

/** A dry run lists this many changes unless --all (or --json) is given. */
export const DRY_RUN_LIST_LIMIT = 50;

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

/** A group change of the dry run: as a user's, with `object: 'group'` and the group's name. */
function describeGroup(action: GroupAction): Record<string, unknown> {
  return {
    object: 'group',
    action: action.kind === 'keep' ? 'skip' : action.kind,
    entraId: action.entraId,
    displayName:
      'displayName' in action && action.displayName
        ? action.displayName
        : 'group' in action
          ? (action.group?.displayName ?? null)
          : null,
    ...('modified' in action && action.modified.length ? { modified: action.modified } : {}),
    ...(action.kind === 'keep' || action.kind === 'error' || action.kind === 'delete'
      ? { reason: action.reason }
      : {}),
  };
}

function formatChange(c: Record<string, unknown>, held: boolean): string {
  const mods = (c.modified as { target: string; oldValue: unknown; newValue: unknown }[] | undefined) ?? [];
  const detail = mods
    .map(
      (m) =>
        `\n    ${esc(m.target)}: ${esc(JSON.stringify(m.oldValue) ?? 'null')} -> ${esc(JSON.stringify(m.newValue) ?? 'null')}`,
    )
    .join('');
  const reason = c.reason ? ` (${esc(String(c.reason))})` : '';
  // A disable or delete the threshold would hold is not what the cycle would do: it would wait.
  const mark = held && (c.action === 'disable' || c.action === 'delete') ? ' [held]' : '';
  const who =
    c.object === 'group' ? `group ${String(c.displayName ?? c.entraId)}` : String(c.userName ?? c.entraId);
  return `  ${String(c.action).padEnd(8)} ${esc(who)}${mark}${reason}${detail}`;
}

/** The JSON of a failed cycle carries its error: what failed, and whether it may pass by itself. */
export function errorJson(result: CycleResult): Record<string, unknown> {
  return result.error
    ? { error: { message: result.error.message, class: failureClass(result.error), name: result.error.name } }
    : {};
}

/**
 * Runs the cycle with the bar on a terminal; returns the last progress (for the users in scope).
 * Chooses the log format before the runtime makes the logger: see useLogFormat.
 */
export async function cycleWithBar(
  rt: Runtime,
  flags: TerminalFlags,
  options: CycleOptions,
): Promise<{ result: CycleResult; last: CycleProgress | null }> {
  const bar = ProgressBar.forTerminal(flags, rt.log, options.dryRun === true);
  let last: CycleProgress | null = null;
  try {
    const result = await runCycle(rt, {
      ...options,
      onProgress: (p) => {
        last = p;
        bar?.update(p);
      },
    });
    return { result, last };
  } finally {
    bar?.stop();
  }
}

/** The users in scope for the summary: a full cycle counted them; else one query now (scope `assigned`). */
export async function usersInScope(rt: Runtime, last: CycleProgress | null): Promise<number | null> {
  if (last?.usersInScope != null) return last.usersInScope;
  return rt.config.scope === 'assigned' ? rt.store.scope.relevantUserCount(MAX_COUNTED) : null;
}

/** --log-format, else ENTRASYNC_LOG_FORMAT, else pretty on a terminal and JSON elsewhere. */
export function chooseLogFormat(flags: TerminalFlags): void {
  useLogFormat(flags.logFormat ?? logFormatFromEnv() ?? 'auto');
}

async function syncCommand(flags: SyncFlags, forced: boolean): Promise<void> {
  chooseLogFormat(flags);
  // A dry run prints the plan on stdout, so its logs go to stderr.
  await withRuntime(
    async (rt) => {
      const changes: Record<string, unknown>[] = [];
      const heldBefore = flags.dryRun ? (await rt.store.staged.counts()).held > 0 : false;
      const { result, last } = await cycleWithBar(rt, flags, {
        forced,
        dryRun: flags.dryRun,
        onAction: flags.dryRun
          ? (a) => {
              if (!(a.kind === 'skip' && a.quiet)) changes.push(describe(a));
            }
          : undefined,
        onGroupAction: flags.dryRun
          ? (a) => {
              if (!(a.kind === 'keep' && a.quiet)) changes.push(describeGroup(a));
            }
          : undefined,
      });
      const command = forced ? 'resync' : 'sync';
      if (flags.dryRun) {
        const held = heldBefore || result.counts.staged > 0;
        if (flags.json)
          printJson({
            dryRun: true,
            kind: result.kind,
            status: result.status,
            counts: result.counts,
            groupCounts: result.groupCounts,
            held,
            changes: changes.map((c) =>
              held && (c.action === 'disable' || c.action === 'delete') ? { ...c, held: true } : c,
            ),
            ...errorJson(result),
          });
        else {
          print(`Dry run (${result.kind}): nothing was written.`);
          print([...countsTable(result.counts), ...groupCountsLines(result.groupCounts)].join('\n'));
          if (held)
            print(
              'Disables and deletes marked [held] would wait for `entrasync approve-deletions` (accidental-deletion threshold).',
            );
          const lines = changes.map((c) => formatChange(c, held));
          for (const line of limited(
            lines,
            flags.all ? null : DRY_RUN_LIST_LIMIT,
            '--all or --json lists every change',
          ))
            print(line);
        }
      } else if (flags.json) {
        printJson({
          cycleId: result.cycleId,
          kind: result.kind,
          status: result.status,
          counts: result.counts,
          graphRequests: result.graphRequests,
          durationMs: result.durationMs,
          ...errorJson(result),
        });
      } else if (process.stdout.isTTY) {
        print(
          summaryText({
            command,
            result,
            usersInScope: await usersInScope(rt, last),
            held: (await rt.store.staged.counts()).held,
            failing: await rt.store.pending.failingCount(),
          }),
        );
      }
      if (result.status === 'failed') throw new CommandFailed(result.error?.message ?? 'the cycle failed');
    },
    flags.dryRun || flags.json ? 'stderr' : 'stdout',
    { memoryIfMissing: flags.dryRun },
  );
}

/** The options every cycle command has for the terminal. */
export function terminalOptions(command: Command): Command {
  return command
    .option('--no-progress', 'draw no progress bar (it is drawn on stderr when stderr is a terminal)')
    .option(
      '--log-format <format>',
      'pretty | json (default: ENTRASYNC_LOG_FORMAT, else pretty on a terminal, json otherwise)',
      logFormat,
    );
}

export function registerSyncCommands(program: Command): void {
  terminalOptions(
    program
      .command('sync')
      .description('run one sync cycle now (incremental when a delta state exists)')
      .option(
        '--dry-run',
        'print the plan (counts and each change) and write nothing, not even the delta link',
      )
      .option('--all', `with --dry-run: list every change (default: the first ${DRY_RUN_LIST_LIMIT})`)
      .option('--json', 'print the result as JSON (logs go to stderr)'),
  ).action((flags: SyncFlags) => syncCommand(flags, false));
  terminalOptions(
    program
      .command('resync')
      .description(
        'forget the delta state and run a full enumeration with reconciliation ("restart provisioning")',
      )
      .option('--dry-run', 'print the plan and write nothing')
      .option('--all', `with --dry-run: list every change (default: the first ${DRY_RUN_LIST_LIMIT})`)
      .option('--json', 'print the result as JSON (logs go to stderr)'),
  ).action((flags: SyncFlags) => syncCommand(flags, true));
}
