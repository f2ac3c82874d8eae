/**
 * Output of the cycle commands for a person at a terminal: the progress bar on stderr, the summary
 * at the end (like the portal's Current Status), and tables. Machines get --json instead.
 */
import cliProgress from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import { LOG_FORMATS, setTerminalOverlay, type LogFormat, type Logger } from '../log.js';
import type { CycleResult } from '../sync/cycle.js';
import { describeProgress, formatSeconds, type CycleProgress } from '../sync/progress.js';
import { escapeControls as esc } from './text.js';

export interface TerminalFlags {
  /** false with --no-progress. */
  progress?: boolean;
  logFormat?: LogFormat;
}

export function logFormat(raw: string): LogFormat {
  if (!(LOG_FORMATS as readonly string[]).includes(raw))
    throw new InvalidArgumentError('Expected pretty or json.');
  return raw as LogFormat;
}

/** Actions in the order the tables list them; `staged` is what the deletion threshold held. */
const ACTIONS = ['create', 'link', 'update', 'disable', 'enable', 'delete', 'skip', 'error', 'staged'];
const LABEL: Record<string, string> = { staged: 'held' };

/**
 * The cycle's progress as a bar on stderr, drawn only on a terminal. While it is shown, log lines
 * are written around it (the bar is cleared, the line written, the bar drawn again below), and the
 * per-user info lines are left out (the log level is raised to warn): a line per user would scroll
 * the bar away; the summary at the end says what was done, and `--no-progress` brings them back.
 */
export class ProgressBar {
  private readonly bar: cliProgress.SingleBar;
  private started = false;

  private constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly dryRun: boolean,
  ) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: '{bar} {text}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        forceRedraw: true,
        linewrap: false,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  /** A bar when stderr is a terminal and --no-progress was not given; null otherwise. */
  static forTerminal(flags: TerminalFlags, log: Logger, dryRun = false): ProgressBar | null {
    if (flags.progress === false || !process.stderr.isTTY) return null;
    // Only the default: an operator who asked for debug lines gets them, around the bar.
    if (log.level === 'info') log.level = 'warn';
    return new ProgressBar(process.stderr, dryRun);
  }

  update(p: CycleProgress): void {
    const total = p.expected ?? 1;
    const value = p.expected === null ? 0 : p.done;
    // A dry run writes nothing: its "written" users are the ones a real run would write.
    const written = `${p.usersWritten.toLocaleString('en-US')} ${this.dryRun ? 'to write' : 'written'}`;
    const text = `${describeProgress(p)} · ${p.usersRead.toLocaleString('en-US')} read, ${written}, ${p.graphRequests} requests`;
    if (!this.started) {
      this.started = true;
      this.bar.start(total, value, { text });
      setTerminalOverlay({
        clear: () => this.stream.write('\r\x1b[2K'),
        redraw: () => this.bar.render(),
      });
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(value, { text });
  }

  stop(): void {
    setTerminalOverlay(null);
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

/** Most cycles after the first take under a few seconds: "0 s" would say nothing. */
function cycleDuration(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(1)} s` : formatSeconds(seconds);
}

/** A two-column table of the actions that happened (or "no changes"). */
export function countsTable(counts: Record<string, number>): string[] {
  const rows = ACTIONS.filter((a) => (counts[a] ?? 0) > 0).map((a) => [LABEL[a] ?? a, String(counts[a])]);
  if (rows.length === 0) return ['  no changes'];
  const width = Math.max(6, ...rows.map(([a]) => a!.length));
  const numbers = Math.max(5, ...rows.map(([, n]) => n!.length));
  return [
    `  ${'action'.padEnd(width)}  ${'users'.padStart(numbers)}`,
    `  ${'-'.repeat(width)}  ${'-'.repeat(numbers)}`,
    ...rows.map(([a, n]) => `  ${a!.padEnd(width)}  ${n!.padStart(numbers)}`),
  ];
}

/** "  groups: create 2, delete 1, members added 40": what a cycle did to groups, when it did anything. */
export function groupCountsLines(counts: Partial<Record<string, number>> | undefined): string[] {
  const label: Record<string, string> = { addMember: 'members added', removeMember: 'members removed' };
  const parts = Object.entries(counts ?? {})
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${label[k] ?? k} ${String(n)}`);
  return parts.length ? [`  groups: ${parts.join(', ')}`] : [];
}

export interface SummaryFacts {
  command: string;
  result: CycleResult;
  usersInScope: number | null;
  held: number;
  failing: number;
}

/** The end of a cycle for people: what was done, with what, and what to do next. */
export function summaryText({ command, result, usersInScope, held, failing }: SummaryFacts): string {
  const lines = [
    '',
    `${command} ${result.status}: ${result.kind} cycle ${result.cycleId}`,
    `  ${cycleDuration(result.durationMs / 1000)}, ${result.graphRequests} Graph requests${usersInScope === null ? '' : `, ${usersInScope.toLocaleString('en-US')} users in scope`}`,
    '',
    ...countsTable(result.counts),
    ...groupCountsLines(result.groupCounts),
  ];
  const next: string[] = [];
  if (result.error) {
    lines.push('', `Error: ${esc(result.error.message)}`);
    next.push('fix the cause above and run the command again; `entrasync status` shows the last errors');
  }
  if (held > 0) {
    lines.push(`Held: ${held} disables/deletes wait for a decision (accidental-deletion threshold)`);
    next.push(
      '`entrasync approve-deletions` applies them, `entrasync reject-deletions` keeps them unapplied',
    );
  }
  if (failing > 0) {
    lines.push(`Failing: ${failing} users (retried with growing spacing; \`entrasync status\` lists them)`);
    next.push('`entrasync retry --all` retries them in the next cycle');
  }
  if (next.length > 0) lines.push('', 'Next:', ...next.map((n) => `  - ${n}`));
  return lines.join('\n');
}

/** The first `limit` lines of a list, and "…and N more" for the rest. */
export function limited(lines: readonly string[], limit: number | null, more: string): string[] {
  if (limit === null || lines.length <= limit) return [...lines];
  return [...lines.slice(0, limit), `  …and ${lines.length - limit} more (${more})`];
}
