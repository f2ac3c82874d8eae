import type { Command } from 'commander';
import { CommandFailed, print, printJson, withRuntime, withStore } from './common.js';
import { summaryText, type TerminalFlags } from './human.js';
import { chooseLogFormat, cycleWithBar, errorJson, terminalOptions, usersInScope } from './sync.js';
import { cycleId } from './options.js';

export function registerSafetyCommands(program: Command): void {
  terminalOptions(
    program
      .command('approve-deletions')
      .description(
        'apply the disables and deletes held by the accidental-deletion threshold, after a cycle re-checks them against Graph',
      )
      .option('--cycle <id>', 'only the changes held in this cycle', cycleId)
      .option('--json', 'print the result as JSON (logs go to stderr)'),
  ).action((flags: { cycle?: string; json?: boolean } & TerminalFlags) => {
    chooseLogFormat(flags);
    return withRuntime(
      async (rt) => {
        const before = await rt.store.staged.counts();
        if (before.total === 0) {
          print('No disables or deletes are held.');
          return;
        }
        const { result, last } = await cycleWithBar(rt, flags, { approve: { cycleId: flags.cycle } });
        const after = await rt.store.staged.counts();
        const summary = {
          cycleId: result.cycleId,
          status: result.status,
          disabled: result.counts.disable,
          deleted: result.counts.delete,
          stillHeld: after.total,
        };
        if (flags.json) printJson({ ...summary, ...errorJson(result) });
        else {
          // On a terminal the cycle's summary, then the answer to the question asked, last.
          if (process.stdout.isTTY)
            print(
              summaryText({
                command: 'approve-deletions',
                result,
                usersInScope: await usersInScope(rt, last),
                held: after.held,
                failing: await rt.store.pending.failingCount(),
              }),
            );
          print(
            `Applied ${summary.disabled} disables and ${summary.deleted} deletes; ${summary.stillHeld} changes still held.`,
          );
        }
        if (result.status === 'failed') throw new CommandFailed(result.error?.message ?? 'the cycle failed');
      },
      flags.json ? 'stderr' : 'stdout',
      { storeMustExist: true },
    );
  });

  program
    .command('reject-deletions')
    .description(
      'never apply the held disables and deletes; the job stays held until their cause is fixed or a resync is run',
    )
    .action(() =>
      withStore(async (store) => {
        const rejected = await store.write(() => store.staged.rejectAll(), 'reject-deletions');
        print(
          rejected === 0
            ? 'No disables or deletes are held.'
            : `Rejected ${rejected} held changes. The job stays held until their cause is fixed (e.g. the assignments are restored) or \`entrasync resync\` is run.`,
        );
      }, 'write'),
    );

  program
    .command('retry')
    .description('make users or groups whose change failed due for a retry in the next cycle')
    .option('--user <user>', 'one user, by Entra object id, local id or userName (a former one too)')
    .option('--group <group>', 'one group, by Entra object id or display name')
    .option('--all', 'every failing user and group')
    .action((flags: { user?: string; group?: string; all?: boolean }, command: Command) => {
      // A usage error (exit 2), found before the store is opened.
      if ([flags.user, flags.group, flags.all].filter(Boolean).length !== 1)
        command.error('error: give either --user or --all, or --group', { exitCode: 2 });
      return withStore(async (store) => {
        if (flags.group) {
          const n = await store.write(() => store.groups.retryFailed(flags.group), 'retry');
          print(
            n === 0 ? 'No failing group matches.' : `${n} failing groups will be retried in the next cycle.`,
          );
          return;
        }
        const n = await store.write(() => store.pending.retryFailed(flags.user), 'retry');
        const groups = flags.all ? await store.write(() => store.groups.retryFailed(), 'retry') : 0;
        if (n > 0 || groups === 0)
          print(
            n === 0 ? 'No failing user matches.' : `${n} failing users will be retried in the next cycle.`,
          );
        if (groups > 0) print(`${groups} failing groups will be retried in the next cycle.`);
      }, 'write');
    });
}
