import type { Command } from 'commander';
import { CredentialError } from '../auth/index.js';
import { GraphAccessError } from '../graph/errors.js';
import { provisionOnDemand } from '../sync/provision.js';
import { namesGroup, provisionGroupOnDemand } from '../sync/provision-group.js';
import type { Runtime } from '../runtime.js';
import { verifyServicePrincipal } from '../source/assignments.js';
import { probeAssignments, probeGroupsDelta, probeOrganization, probeUsersDelta } from '../source/probes.js';
import { CommandFailed, print, printJson, withRuntime } from './common.js';
import { escapeControls as esc } from './text.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

export function registerDiagnoseCommands(program: Command): void {
  program
    .command('test-connection')
    .description('get a token, find the service principal and try each Graph call a cycle needs')
    .option('--json', 'print the checks as JSON')
    .action((flags: { json?: boolean }) =>
      withRuntime(
        async ({ api, config }) => {
          const checks: Check[] = [];
          const attempt = async (check: string, permission: string, fn: () => Promise<string>) => {
            try {
              checks.push({ check, ok: true, detail: await fn() });
              return true;
            } catch (error) {
              const detail =
                error instanceof CredentialError
                  ? error.message
                  : error instanceof GraphAccessError && error.status === 403
                    ? `missing application permission ${permission} (admin consent needed): ${error.code}`
                    : (error as Error).message;
              checks.push({ check, ok: false, detail });
              return false;
            }
          };
          let spId: string | undefined;
          const tokenOk = await attempt('token', '-', async () => {
            await probeOrganization(api);
            return `token issued for ${config.authorityHost} tenant ${config.tenantId}`;
          });
          if (tokenOk) {
            if (config.scope === 'assigned') {
              await attempt('service principal', 'Application.Read.All', async () => {
                const sp = await verifyServicePrincipal(api, config.servicePrincipalId, config.clientId);
                spId = sp.id;
                return `service principal ${sp.id}${sp.displayName ? ` (${sp.displayName})` : ''}`;
              });
              const found = spId;
              if (found) {
                await attempt('assignments', 'Application.Read.All', async () => {
                  return `${await probeAssignments(api, found)} assignments on the first page`;
                });
              }
              await attempt('groups/delta', 'GroupMember.Read.All', async () => {
                await probeGroupsDelta(api);
                return 'readable';
              });
            }
            await attempt('users/delta', 'User.Read.All', async () => {
              await probeUsersDelta(api);
              return 'readable';
            });
          }
          if (flags.json) printJson(checks);
          else for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${esc(c.detail)}`);
          if (checks.some((c) => !c.ok)) throw new CommandFailed('the connection test failed');
        },
        'stderr',
        { memoryIfMissing: true },
      ),
    );

  program
    .command('provision <user>')
    .description(
      "provision one user (UPN or object id) or group (object id or display name) now, with a step trace like Entra's provision on demand",
    )
    .option('--json', 'print the trace as JSON')
    .option('--group', 'the argument names a group (default: a group when one has that id or display name)')
    .action((user: string, flags: { json?: boolean; group?: boolean }) =>
      withRuntime(async (rt) => {
        if (flags.group || (await namesGroup(rt.store, user))) return provisionGroupCommand(rt, user, flags);
        const result = await provisionOnDemand(rt, user);
        if (flags.json)
          printJson({
            cycleId: result.cycleId,
            steps: result.steps,
            scope: result.scope,
            action: result.action?.kind ?? null,
          });
        else
          for (const s of result.steps) print(`${s.step.padEnd(7)} ${s.status.padEnd(8)} ${esc(s.detail)}`);
        if (result.steps.some((s) => s.status === 'failure')) throw new CommandFailed('provisioning failed');
      }, 'stderr'),
    );
}

async function provisionGroupCommand(rt: Runtime, key: string, flags: { json?: boolean }): Promise<void> {
  const result = await provisionGroupOnDemand(rt, key);
  if (flags.json)
    printJson({
      cycleId: result.cycleId,
      object: 'group',
      steps: result.steps,
      action: result.action ? (result.action.kind === 'keep' ? 'skip' : result.action.kind) : null,
      group: result.group,
    });
  else {
    for (const s of result.steps) print(`${s.step.padEnd(7)} ${s.status.padEnd(8)} ${esc(s.detail)}`);
    if (result.group)
      print(`group   ${esc(result.group.displayName)} (${result.group.id}): ${result.group.members} members`);
  }
  if (result.steps.some((s) => s.status === 'failure')) throw new CommandFailed('provisioning failed');
}
