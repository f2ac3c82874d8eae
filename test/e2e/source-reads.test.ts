/**
 * Graph's one-object reads live in src/source/ (issue 13): one user by id or UPN (provision on
 * demand, mappings preview, reconciliation) and a user in the recycle bin. Absence (404) is null;
 * any other failure is not absence and is thrown. Emulator over HTTPS, real msal-node and Graph client.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { GraphAccessError } from '../../src/graph/errors.js';
import { findUser, readDeletedUser, readUser } from '../../src/source/users.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { ROOT, syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator();
  h = syncHarness(emu);
});
afterEach(async () => {
  h.close();
  await emu.close();
});

const api = () => h.rt.api;

describe('one user', () => {
  it('by UPN or by id, with the selected attributes and its id', async () => {
    const u = createEnabledUser(emu, "o'hara+test@contoso.com", { mail: 'oh@contoso.com' });
    const byUpn = await findUser(api(), "o'hara+test@contoso.com", ['mail']);
    expect(byUpn).toMatchObject({ id: u.id, mail: 'oh@contoso.com', accountEnabled: true });
    expect(await findUser(api(), u.id, ['mail'])).toMatchObject({ id: u.id, mail: 'oh@contoso.com' });
    const paths = emu.tenant.requests().map((r) => r.path);
    // The UPN is one path segment: '+' and the rest are encoded as they were before.
    expect(paths).toContain(
      `/v1.0/users/${encodeURIComponent("o'hara+test@contoso.com")}?$select=id,accountEnabled,mail`,
    );
  });

  it('is null when Graph has no such user, and so is a user only in the recycle bin', async () => {
    expect(await findUser(api(), 'nobody@contoso.com', [])).toBeNull();
    const u = createEnabledUser(emu, 'gone@contoso.com');
    emu.tenant.softDeleteUser(u.id);
    expect(await readUser(api(), u.id, ['accountEnabled'])).toBeNull();
  });

  it('a refused read is thrown, never taken for absence', async () => {
    const u = createEnabledUser(emu, 'a@contoso.com');
    emu.tenant.revokePermissions(['User.Read.All']);
    await expect(readUser(api(), u.id, ['accountEnabled'])).rejects.toBeInstanceOf(GraphAccessError);
  });
});

describe('a user in the recycle bin', () => {
  it('is read once soft-deleted, null while live or after a hard delete', async () => {
    const u = createEnabledUser(emu, 'bin@contoso.com');
    expect(await readDeletedUser(api(), u.id)).toBeNull();
    emu.tenant.softDeleteUser(u.id);
    expect(await readDeletedUser(api(), u.id)).toMatchObject({
      id: u.id,
      userPrincipalName: expect.any(String),
    });
    emu.tenant.hardDeleteUser(u.id);
    expect(await readDeletedUser(api(), u.id)).toBeNull();
  });
});

describe('house rule: only src/source/ builds Graph URLs', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const GRAPH_PATH =
    /['"`]\/(users|groups|directory|servicePrincipals|organization|applications|me)\b|\bapi\.(get|pages)\(/;

  it('no Graph path or GraphApi read outside src/source/ (the emulator and GraphApi itself aside)', () => {
    const src = join(ROOT, 'src');
    const offenders = files(src)
      .map((f) => relative(src, f))
      .filter((f) => !/^(source|emulator|graph)\//.test(f))
      .flatMap((f) =>
        readFileSync(join(src, f), 'utf8')
          .split('\n')
          .map((line, i) => ({ where: `${f}:${i + 1}`, line }))
          .filter(({ line }) => GRAPH_PATH.test(line) && !line.trim().startsWith('*')),
      )
      .map(({ where, line }) => `${where}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });
});
