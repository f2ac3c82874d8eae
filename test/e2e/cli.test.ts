/** The built CLI as a child process: exit codes, outputs, and that secrets never appear. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';

let emu: RunningEmulator;
let dir: string;
let env: Record<string, string>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  emu = await startTestEmulator({ pageSize: 4 });
  for (const name of ['ana', 'ben', 'cho']) {
    const u = emu.tenant.createUser({
      userPrincipalName: `${name}@contoso.com`,
      displayName: name.toUpperCase(),
      mail: `${name}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids[name] = u.id;
  }
  dir = tempDir();
  writeSettings(dir);
  env = emulatorEnv(emu, dir, { ENTRASYNC_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await emu.close();
});

describe('configuration errors exit 2 and name the setting', () => {
  const cases: [string, Record<string, string | undefined>, RegExp][] = [
    ['missing tenant', { ENTRASYNC_TENANT_ID: '' }, /ENTRASYNC_TENANT_ID: is required/],
    ['bad client id', { ENTRASYNC_CLIENT_ID: 'not-a-guid' }, /ENTRASYNC_CLIENT_ID: expected a GUID/],
    ['http graph', { ENTRASYNC_GRAPH_URL: 'http://127.0.0.1:1' }, /ENTRASYNC_GRAPH_URL: must use https/],
    ['bad scope', { ENTRASYNC_SCOPE: 'some' }, /ENTRASYNC_SCOPE: expected "assigned" or "all"/],
    ['bad log level', { ENTRASYNC_LOG_LEVEL: 'loud' }, /ENTRASYNC_LOG_LEVEL/],
    ['missing config file', { ENTRASYNC_CONFIG: '/nonexistent/x.yaml' }, /ENTRASYNC_CONFIG: cannot read/],
  ];
  for (const [name, override, message] of cases) {
    it(name, async () => {
      const r = await runCli(['sync'], { ...env, ...override } as Record<string, string>);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr + r.stdout).not.toContain(emu.clientSecret);
    });
  }

  it('a bad mapping names the mapping', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'mappings:\n  - target: userName\n    direct: userPrincipalName\n    matchingPrecedence: 1\n  - target: displayName\n    expression: Join(" ", [givenName]\n',
    );
    const r = await runCli(['sync'], { ...env, ENTRASYNC_CONFIG: bad });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mappings\[1\]/);
  });

  it('an unknown option is a usage error', async () => {
    const r = await runCli(['sync', '--frobnicate'], env);
    expect(r.code).toBe(2);
  });
});

describe('a wrong secret', () => {
  it('fails with exit 1, says invalid_client, never prints the secret', async () => {
    const wrong = 'definitely-wrong-secret-value';
    const r = await runCli(['sync'], { ...env, ENTRASYNC_CLIENT_SECRET: wrong });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/invalid_client|AADSTS7000215/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });
});

describe('the main commands', () => {
  it('sync --dry-run prints the plan and writes nothing; sync applies it; logs are JSON with cycleId', async () => {
    const dry = await runCli(['sync', '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.counts.create).toBe(3);
    expect(plan.changes.map((c: { userName: string }) => c.userName).sort()).toEqual([
      'ana@contoso.com',
      'ben@contoso.com',
      'cho@contoso.com',
    ]);

    const status0 = JSON.parse((await runCli(['status', '--json'], env)).stdout);
    expect(status0.users.total).toBe(0);
    expect(status0.deltaState.usersSavedAt).toBeNull();

    const run = await runCli(['sync'], env);
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const start = lines.find((l) => l.msg === 'cycle started');
    const end = lines.find((l) => l.msg === 'cycle finished');
    expect(start.cycleId).toBeTruthy();
    expect(lines.filter((l) => l.msg === 'change').every((l) => l.cycleId === start.cycleId)).toBe(true);
    expect(end.counts.create).toBe(3);
    expect(lines.some((l) => l.msg === 'change summary')).toBe(true);
    expect(run.stdout).not.toContain(emu.clientSecret);
    expect(run.stdout).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // no JWT
  });

  it('status, audit and users export show the result', async () => {
    emu.tenant.updateUser(ids.ben!, { displayName: 'Benjamin' });
    expect((await runCli(['sync'], env)).code).toBe(0);

    const status = JSON.parse((await runCli(['status', '--json'], env)).stdout);
    expect(status.users).toMatchObject({ total: 3, active: 3, linked: 3 });
    expect(status.lastCycles[0]).toMatchObject({ kind: 'incremental', status: 'succeeded' });
    expect(status.lastCycles[0].counts.update).toBe(1);
    expect(JSON.stringify(status)).not.toContain('ben@contoso.com');

    const text = await runCli(['status'], env);
    expect(text.stdout).toMatch(/Users in store: 3/);

    const audit = JSON.parse((await runCli(['audit', '--json', '--action', 'update'], env)).stdout);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      userName: 'ben@contoso.com',
      modified: [{ target: 'displayName', oldValue: 'BEN', newValue: 'Benjamin' }],
    });
    const byUser = await runCli(['audit', '--user', 'BEN@contoso.com'], env);
    expect(byUser.stdout).toMatch(/displayName: "BEN" -> "Benjamin"/);

    const exported = JSON.parse((await runCli(['users', 'export'], env)).stdout);
    expect(exported).toHaveLength(3);
    const ben = exported.find((u: { userName: string }) => u.userName === 'ben@contoso.com');
    expect(ben).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: ids.ben,
      displayName: 'Benjamin',
      active: true,
      emails: [expect.objectContaining({ type: 'work', value: 'ben@contoso.com' })],
      meta: expect.objectContaining({ resourceType: 'User' }),
    });
  });

  it('test-connection reports each call, and names a missing permission', async () => {
    const ok = await runCli(['test-connection'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok\s+users\/delta/);
    emu.tenant.setPermissions(['Application.Read.All', 'GroupMember.Read.All']);
    try {
      const bad = await runCli(['test-connection'], env);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/FAIL users\/delta: missing application permission User\.Read\.All/);
    } finally {
      emu.tenant.setPermissions(['User.Read.All', 'GroupMember.Read.All', 'Application.Read.All']);
    }
  });

  it('provision evaluates one user now with a step trace', async () => {
    const dee = emu.tenant.createUser({
      userPrincipalName: 'dee@contoso.com',
      displayName: 'Dee',
      accountEnabled: true,
    });
    emu.tenant.assign(dee.id, 'User');
    const r = await runCli(['provision', dee.id, '--json'], env);
    expect(r.code).toBe(0);
    const trace = JSON.parse(r.stdout);
    expect(trace.steps.map((s: { step: string }) => s.step)).toEqual(['import', 'scope', 'match', 'action']);
    expect(trace.action).toBe('create');
    const exported = JSON.parse((await runCli(['users', 'export'], env)).stdout);
    expect(exported.map((u: { userName: string }) => u.userName)).toContain('dee@contoso.com');
  });

  it('mappings eval and check', async () => {
    const r = await runCli(
      [
        'mappings',
        'eval',
        '--expression',
        'Join(" ", [givenName], [surname])',
        '--input',
        '{"givenName":"Zoë","surname":"Ngô"}',
      ],
      env,
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toBe('Zoë Ngô');
    const sw = await runCli(
      [
        'mappings',
        'eval',
        '--expression',
        'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
        '--input',
        '{"IsSoftDeleted":true}',
      ],
      env,
    );
    expect(JSON.parse(sw.stdout)).toBe('False');
    const preview = await runCli(['mappings', 'preview', 'ben@contoso.com'], env);
    expect(preview.code).toBe(0);
    expect(JSON.parse(preview.stdout)).toMatchObject({
      userName: 'ben@contoso.com',
      active: true,
      emails: [expect.objectContaining({ type: 'work', value: 'ben@contoso.com' })],
    });
    const missing = await runCli(['mappings', 'preview', 'nobody@contoso.com'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/);
    const bad = await runCli(['mappings', 'eval', '--expression', 'Join(" ", [a]'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/position/);
    const check = await runCli(['mappings', 'check', '--json'], env);
    expect(JSON.parse(check.stdout).select).toEqual([
      'accountEnabled',
      'displayName',
      'mail',
      'userPrincipalName',
    ]);
  });
});
