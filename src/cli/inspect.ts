import type { Command } from 'commander';
import { buildStatus, type StatusDocument } from '../sync/status.js';
import { describeProgress, type CycleProgress } from '../sync/progress.js';
import { toScimGroup, toScimResource } from '../sync/export.js';
import type { AuditEntry, UserStore } from '../store/index.js';
import { print, printJson, withStore } from './common.js';
import { auditAction, cycleId, isoTime, MAX_LIMIT, positiveInteger } from './options.js';
import { escapeControls as esc } from './text.js';

/** Numbers as the summary, the bar and the status page write them: 20,000. */
const n = (value: number) => value.toLocaleString('en-US');

/** Lists in the text status show this many entries, then "…and N more". */
const LISTED = 20;

function andMore(total: number, shown: number, where: string): string[] {
  return total > shown ? [`  …and ${total - shown} more (${where})`] : [];
}

/** No delta state while the first full sync runs is not "none": it is being built. */
function deltaStateText(s: StatusDocument): string {
  if (s.deltaState.usersSavedAt)
    return `saved ${s.deltaState.usersSavedAt} (${s.deltaState.usersAgeSeconds}s ago)`;
  return s.cycleRunning ? 'none yet (first full sync in progress)' : 'none (next cycle is initial)';
}

/** "Running: users 12,000 / 20,000 (60 %), 1,400/s, about 6 s left" and what the cycle has done so far. */
function runningText(p: CycleProgress): string {
  const counts = Object.entries(p.counts)
    .map(([k, count]) => `${k} ${n(count)}`)
    .join(', ');
  return [
    `Running: ${describeProgress(p)}`,
    `  ${p.kind} cycle ${p.cycleId} since ${p.startedAt}; ${p.usersInScope === null ? '?' : n(p.usersInScope)} users in scope, ${n(p.usersRead)} read in ${n(p.pagesRead)} pages, ${n(p.usersWritten)} written, ${n(p.graphRequests)} Graph requests${counts ? `; ${counts}` : ''} (as of ${p.updatedAt})`,
  ].join('\n');
}

function statusText(s: StatusDocument): string {
  const lines = [
    `Store: ${s.store.kind}${s.store.leader ? `; leader (running a cycle): ${esc(s.store.leader)}` : ''}`,
    `Users in store: ${n(s.users.total)} (active ${n(s.users.active)}, inactive ${n(s.users.inactive)}, linked to Entra ${n(s.users.linked)}, local ${n(s.users.local)})`,
    `Groups in store: ${n(s.groups.total)} (linked to Entra ${n(s.groups.linked)}, local ${n(s.groups.local)}); memberships ${n(s.groups.memberships)}`,
    `Delta state: ${deltaStateText(s)}`,
    `Pending users: ${n(s.pendingUsers)}`,
    s.cycleRunning ? `A cycle is running: ${esc(s.cycleRunning.owner)}` : 'No cycle running',
    ...(s.progress ? [runningText(s.progress)] : []),
    s.lastError
      ? `Last error (cycle ${s.lastError.cycleId}, ${s.lastError.at}): ${esc(s.lastError.message)}`
      : 'Last error: none',
  ];
  if (s.quarantine.quarantined) {
    const q = s.quarantine;
    const byClass = Object.entries(q.failures)
      .filter(([, n]) => n > 0)
      .map(([cls, n]) => `${n} ${cls}`)
      .join(', ');
    lines.push(
      `QUARANTINED (${esc(String(q.reason))}): ${q.consecutiveFailures} failed cycles (${byClass}); scheduled cycles resume at ${q.nextAttemptAt}; run \`entrasync sync\` to lift it`,
    );
    if (q.startedBy) {
      lines.push(
        `  started by a ${q.startedBy.failureClass} failure in cycle ${q.startedBy.cycleId} at ${q.startedBy.at}: ${esc(q.startedBy.error)}`,
      );
    }
  }
  if (s.deletions.held) {
    lines.push(
      `HELD: ${s.deletions.count} disables/deletes wait for \`entrasync approve-deletions\` or \`reject-deletions\`${s.deletions.rejected ? ` (${s.deletions.rejected} rejected)` : ''}`,
    );
    for (const c of s.deletions.changes.slice(0, LISTED))
      lines.push(`  ${c.kind.padEnd(7)} ${esc(c.userName ?? c.entraId)}${c.rejected ? ' (rejected)' : ''}`);
    lines.push(...andMore(s.deletions.count, LISTED, '`entrasync audit --action staged-disable` lists them'));
  }
  if (s.failingUsers.count > 0) {
    lines.push(
      `Failing users: ${s.failingUsers.count} (retried with growing spacing; \`entrasync retry --all\` retries now)`,
    );
    for (const u of s.failingUsers.users.slice(0, LISTED)) {
      const who = u.userName ? `${esc(u.userName)} (${u.entraId})` : u.entraId;
      lines.push(
        `  ${who}  ${u.failures} failures, next retry ${u.retryAfter ?? 'next cycle'}: ${esc(u.lastError ?? '')}`,
      );
    }
    lines.push(...andMore(s.failingUsers.count, LISTED, '`status --json` lists up to 100'));
  }
  if (s.failingGroups.count > 0)
    lines.push(
      `Failing groups: ${s.failingGroups.count} (retried with growing spacing; \`entrasync audit --action error\` says why; \`entrasync retry --all\` retries now)`,
    );
  lines.push('', 'Recent cycles:', ...s.lastCycles.map((c) => cycleLine(c, s.progress)));
  if (s.onDemandRuns.length > 0)
    lines.push('', 'On-demand runs:', ...s.onDemandRuns.map((c) => cycleLine(c, s.progress)));
  return lines.join('\n');
}

function cycleLine(c: StatusDocument['lastCycles'][number], progress: CycleProgress | null): string {
  // A running cycle's row has no duration, requests or counts yet: its "Running:" lines have them.
  if (c.status === 'running')
    return `  ${c.startedAt}  ${c.kind.padEnd(11)} running   in progress${progress?.cycleId === c.id ? ' (see "Running:" above)' : ''}`;
  const counts = Object.entries(c.counts)
    .filter(([, count]) => count > 0)
    .map(([k, count]) => `${k} ${n(count)}`)
    .join(', ');
  return `  ${c.startedAt}  ${c.kind.padEnd(11)} ${c.status.padEnd(9)} ${c.durationMs === null ? '-' : n(c.durationMs)} ms  ${n(c.graphRequests)} requests  ${counts || 'no changes'}${c.error ? `  error: ${esc(c.error)}` : ''}`;
}

interface AuditFlags {
  json?: boolean;
  cycle?: string;
  user?: string;
  group?: string;
  action?: string;
  since?: string;
  limit: number;
}

export function registerInspectCommands(program: Command): void {
  program
    .command('status')
    .description(
      'current status: recent cycles with counts and duration, users in the store, delta state age, last error',
    )
    .option('--json', 'print the status document as JSON')
    .action((flags: { json?: boolean }) =>
      withStore(async (store) => {
        const status = await buildStatus(store, { personal: true });
        if (flags.json) printJson(status);
        else print(statusText(status));
      }),
    );

  program
    .command('audit')
    .description(
      'the change log, like the provisioning logs: action, status and modified properties (old -> new)',
    )
    .option('--json', 'print JSON')
    .option('--cycle <id>', 'only this cycle', cycleId)
    .option(
      '--user <user>',
      "one user's whole history: its Entra object id, local id, or any userName it had (case-insensitive)",
    )
    .option(
      '--action <action>',
      'create | link | update | disable | enable | delete | skip | error | staged-disable | staged-delete | staged-delete-group | add-member | remove-member',
      auditAction,
    )
    .option(
      '--group <group>',
      "one group's history (its rows and its members' add/remove rows): local id, Entra object id or display name",
    )
    .option('--since <iso-time>', 'only entries at or after this time', isoTime)
    .option('--limit <n>', 'at most this many entries (newest)', positiveInteger(MAX_LIMIT), 100)
    .action((flags: AuditFlags) =>
      withStore(async (store) => {
        const entries = await store.audit.query({
          cycleId: flags.cycle,
          user: flags.user,
          ...(flags.group ? { group: flags.group } : {}),
          action: flags.action,
          since: flags.since,
          limit: flags.limit,
        });
        if (flags.json) return printJson(entries);
        for (const e of entries) {
          print(
            `${e.at}  ${e.action.padEnd(8)} ${e.status.padEnd(8)} ${esc(auditSubject(e))}${e.reasonCode ? `  [${esc(e.reasonCode)}]` : ''}${e.reason ? `  (${esc(e.reason)})` : ''}`,
          );
          for (const m of e.modified)
            print(
              `    ${esc(m.target)}: ${esc(JSON.stringify(m.oldValue) ?? 'null')} -> ${esc(JSON.stringify(m.newValue) ?? 'null')}`,
            );
        }
        if (entries.length === 0) print('No audit entries match.');
      }),
    );

  program
    .command('users')
    .description('the user store')
    .command('export')
    .description('print the store as a JSON array of SCIM 2.0 User resources')
    .action(() =>
      withStore(async (store) => {
        process.stdout.write('[');
        let first = true;
        for await (const user of store.users.inUserNameOrder()) {
          process.stdout.write(`${first ? '\n' : ',\n'}${JSON.stringify(toScimResource(user))}`);
          first = false;
        }
        process.stdout.write(first ? ']\n' : '\n]\n');
      }),
    );

  program
    .command('groups')
    .description('the groups in the store')
    .command('export')
    .description('print the groups as a SCIM 2.0 ListResponse of Group resources, with their members')
    .action(() =>
      withStore(async (store) => {
        const { total } = await store.groups.counts();
        process.stdout.write(
          `{"schemas":["${LIST_RESPONSE}"],"totalResults":${total},"startIndex":1,"itemsPerPage":${total},"Resources":[`,
        );
        let first = true;
        for await (const group of store.groups.inDisplayNameOrder()) {
          const members = await groupMembers(store, group.id);
          process.stdout.write(`${first ? '\n' : ',\n'}${JSON.stringify(toScimGroup(group, members))}`);
          first = false;
        }
        process.stdout.write(first ? ']}\n' : '\n]}\n');
      }),
    );
}

const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** Who an audit row is about: the user, else (group rows) the group, else the Entra id. */
function auditSubject(entry: AuditEntry): string {
  // The group columns of the audit (migration 7).
  const e = entry as AuditEntry & { objectType?: string; groupId?: string | null; groupName?: string | null };
  if (e.objectType === 'group' && e.userName) return `${e.groupName ?? e.groupId ?? '-'} <- ${e.userName}`;
  if (e.objectType === 'group') return `group ${e.groupName ?? e.entraId ?? '-'}`;
  return e.userName ?? e.entraId ?? '-';
}

/** The members of a group as SCIM references: the local user id and its userName. */
async function groupMembers(
  store: UserStore,
  groupId: string,
): Promise<{ value: string; display: string }[]> {
  const members: { value: string; display: string }[] = [];
  for (const id of await store.groups.memberIds(groupId)) {
    const user = await store.users.get(id);
    if (user) members.push({ value: user.id, display: user.userName });
  }
  return members;
}
