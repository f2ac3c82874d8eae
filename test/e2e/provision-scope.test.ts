/**
 * `entrasync provision <user>` evaluates scope at the time of the request, as Entra's provision on
 * demand does (graph-semantics §6.9): the assignments and the user's group memberships are read
 * from Graph now, not taken from the last cycle. Through the built CLI, against the emulator.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, syncHarness, tempDir, writeSettings } from '../support/harness.js';

let emu: RunningEmulator;
let env: Record<string, string>;
let dir: string;

interface Trace {
  steps: { step: string; status: string; detail: string }[];
  action: string | null;
}

async function provision(user: string): Promise<{ code: number; trace: Trace }> {
  const r = await runCli(['provision', user, '--json'], env);
  return { code: r.code, trace: JSON.parse(r.stdout) as Trace };
}

const scopeStep = (t: Trace) => t.steps.find((s) => s.step === 'scope')!;

function storeRow(userName: string) {
  const h = syncHarness(emu, { dir, settings: settingsFor() });
  try {
    return h.row(userName);
  } finally {
    h.close();
  }
}

let nested = false;
const settingsFor = () => ({ scope: { expandNestedGroups: nested } });

async function setUp(expandNested: boolean) {
  nested = expandNested;
  dir = tempDir();
  writeSettings(dir, settingsFor());
  env = emulatorEnv(emu, dir);
  const ana = createEnabledUser(emu, 'ana@contoso.com');
  const bob = createEnabledUser(emu, 'bob@contoso.com');
  const group = emu.tenant.createGroup({ displayName: 'App users', members: [bob.id] });
  emu.tenant.assign(ana.id, 'User');
  emu.tenant.assign(group.id, 'Group');
  const first = await runCli(['sync'], env);
  expect(first.code).toBe(0);
  return { ana, bob, group };
}

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 3 });
});
afterEach(async () => {
  await emu.close();
});

describe('provision on demand checks scope now', () => {
  it('creates a user who joined an assigned group after the last cycle, and says through which group', async () => {
    const { group } = await setUp(false);
    const dee = createEnabledUser(emu, 'dee@contoso.com');
    emu.tenant.addMember(group.id, dee.id);
    const { code, trace } = await provision(dee.id);
    expect(code).toBe(0);
    expect(scopeStep(trace)).toMatchObject({ status: 'success' });
    expect(scopeStep(trace).detail).toContain(
      `in scope: through group App users (${group.id}), assigned to the application`,
    );
    expect(trace.action).toBe('create');
    expect(storeRow('dee@contoso.com')).toMatchObject({ external_id: dee.id, active: 1 });
  });

  it('a directly assigned user: "assigned directly"', async () => {
    await setUp(false);
    const { trace } = await provision('ana@contoso.com'); // by UPN
    expect(scopeStep(trace)).toMatchObject({ status: 'success' });
    expect(scopeStep(trace).detail).toContain('in scope: assigned directly');
  });

  it('a user who is in no assigned group and not assigned is skipped', async () => {
    await setUp(false);
    const eve = createEnabledUser(emu, 'eve@contoso.com');
    const other = emu.tenant.createGroup({ displayName: 'Not assigned', members: [eve.id] });
    expect(other.id).toBeTruthy();
    const { trace } = await provision(eve.id);
    expect(scopeStep(trace)).toMatchObject({ status: 'skipped' });
    expect(scopeStep(trace).detail).toContain(
      'out of scope: not assigned (directly or through any assigned group)',
    );
    expect(storeRow('eve@contoso.com')).toBeUndefined();
  });

  it('a member removed from the assigned group after the last cycle is out of scope now: disabled', async () => {
    const { bob, group } = await setUp(false);
    expect(storeRow('bob@contoso.com')).toMatchObject({ active: 1 });
    emu.tenant.removeMember(group.id, bob.id);
    const { trace } = await provision(bob.id);
    expect(scopeStep(trace)).toMatchObject({ status: 'skipped' });
    expect(trace.action).toBe('disable');
    expect(storeRow('bob@contoso.com')).toMatchObject({ active: 0 });
  });

  it('with nested groups expanded: a member of a group nested in the assigned one, joined after the last cycle', async () => {
    const { group } = await setUp(true);
    const inner = emu.tenant.createGroup({ displayName: 'Inner' });
    emu.tenant.addMember(group.id, inner.id);
    const fay = createEnabledUser(emu, 'fay@contoso.com');
    emu.tenant.addMember(inner.id, fay.id);
    const { trace } = await provision(fay.id);
    expect(scopeStep(trace).detail).toContain(
      `in scope: through group App users (${group.id}), assigned to the application`,
    );
    expect(trace.action).toBe('create');
  });
});
