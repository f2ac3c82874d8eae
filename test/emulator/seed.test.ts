import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { rawRound, type Item } from './helpers.js';

let emu: RunningEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function snapshot(e: RunningEmulator) {
  const users = await rawRound(
    e,
    '/v1.0/users/delta?$select=userPrincipalName,displayName,mail,accountEnabled,userType',
  );
  const groups = await rawRound(e, '/v1.0/groups/delta?$select=displayName,members');
  return { users: users.items, groups: groups.items };
}

describe('seeded tenant', () => {
  it('is realistic and deterministic from the seed', async () => {
    emu = await startTestEmulator({
      seed: { users: 600, groups: 5, assignEvery: 7, seed: 42 },
      pageSize: 500,
    });
    const a = await snapshot(emu);
    await emu.close();
    emu = await startTestEmulator({
      seed: { users: 600, groups: 5, assignEvery: 7, seed: 42 },
      pageSize: 500,
    });
    const b = await snapshot(emu);
    expect(b).toEqual(a);

    const names = a.users.map((u) => String(u.displayName)).join('\n');
    expect(names).toMatch(/[À-ž]/); // accents
    expect(names).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/); // CJK
    expect(names).toMatch(/[\u0400-\u04ff]/); // Cyrillic
    expect(names).toMatch(/[\u0600-\u06ff]/); // Arabic
    const guests = a.users.filter((u) => u.userType === 'Guest');
    expect(guests.length).toBeGreaterThan(0);
    expect(String(guests[0]!.userPrincipalName)).toMatch(
      /^[a-z.0-9]+_[a-z.]+#EXT#@contoso\.onmicrosoft\.com$/,
    );
    expect(a.users.some((u) => u.userType === 'Member' && !('mail' in u))).toBe(true);
    expect(a.users.some((u) => u.accountEnabled === false)).toBe(true);

    const nested = a.groups.flatMap((g) =>
      ((g['members@delta'] as Item[] | undefined) ?? []).filter(
        (m) => m['@odata.type'] === '#microsoft.graph.group',
      ),
    );
    expect(nested.length).toBe(1);
    const res = await fetch(
      `${emu.url}/v1.0/servicePrincipals/${emu.servicePrincipalId}/appRoleAssignedTo?$top=999`,
      {
        headers: { Authorization: `Bearer ${emu.issueAccessToken()}` },
      },
    );
    const assigned = ((await res.json()) as { value: Item[] }).value;
    expect(assigned.filter((x) => x.principalType === 'Group').length).toBe(2); // groups 0 and 3
    expect(assigned.filter((x) => x.principalType === 'User').length).toBe(Math.ceil(600 / 7));
    // The assigned group 0 contains the nested group 1.
    const group0 = a.groups.find(
      (g) => g.id === assigned.find((x) => x.principalType === 'Group')!.principalId,
    )!;
    expect(group0).toBeDefined();
  });
});

describe('entrasync emulator command', () => {
  it('prints exactly one JSON line first, serves, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./src/emulator/main.ts').then((m) => m.runEmulatorCommand({ users: 50, seed: 3 }))",
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve) => lines.once('line', resolve));
    const info = JSON.parse(first) as Record<string, string>;
    expect(Object.keys(info)).toEqual([
      'url',
      'caFile',
      'tenantId',
      'clientId',
      'clientSecret',
      'appId',
      'servicePrincipalId',
    ]);
    expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // The child made its own certificate; trust it explicitly through the printed caFile.
    const ctlInfo = await new Promise<Record<string, unknown>>((resolve, reject) => {
      get(`${info.url}/_ctl/info`, { ca: readFileSync(info.caFile!, 'utf8') }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
      }).on('error', reject);
    });
    expect(ctlInfo).toEqual(info);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const more: string[] = [];
    lines.on('line', (l) => more.push(l));
    expect(more).toEqual([]);
  }, 30_000);
});
