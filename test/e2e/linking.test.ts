/**
 * Linking an Entra user to a local row the application inserted (issue 12, items 1 and 2), end to
 * end: emulator over HTTPS, real msal-node and Graph client, real SQLite store.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { LinkConflictError, Store } from '../../src/store/index.js';
import { cycleFinished, startDaemon } from '../daemon/support.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import {
  emulatorEnv,
  runCli,
  syncHarness,
  tempDir,
  writeSettings,
  type SyncHarness,
} from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator({ pageSize: 50 });
});
afterEach(async () => {
  h?.close();
  await emu.close();
});

const assigned = (upn: string, extra: Record<string, unknown> = {}) => {
  const u = createEnabledUser(emu, upn, extra);
  emu.tenant.assign(u.id, 'User');
  return u;
};

/** A row the application inserted itself (not linked to Entra). */
function localRow(userName: string, email: string | null = null, linkable?: number | null): string {
  const db = h.rt.store.db;
  if (linkable === undefined)
    db.prepare(`INSERT INTO users (user_name, display_name, email) VALUES (?, 'Local', ?)`).run(
      userName,
      email,
    );
  else
    db.prepare(`INSERT INTO users (user_name, display_name, email, linkable) VALUES (?, 'Local', ?, ?)`).run(
      userName,
      email,
      linkable,
    );
  return (db.prepare('SELECT id FROM users WHERE user_name = ?').get(userName) as { id: string }).id;
}

const audit = (action: string) => h.rt.store.tables.audit.query({ action });
const failing = () => h.rt.store.tables.pending.failing(100);

/**
 * Two Entra users whose matching value differs only in case both find the same local row: one links
 * it, the other fails naming the conflict, stays pending and is retried. On retry the row is
 * linked, so no longer a candidate: the loser fails again when its userName is the row's (`fails`),
 * and is created as a user of its own when only its email matched (`created`).
 */
async function expectOneLinkOneFailure(
  rowId: string,
  ids: [string, string],
  onRetry: 'fails' | 'created' = 'fails',
) {
  const result = await h.sync();
  expect(result.status).toBe('succeeded');
  const links = audit('link');
  expect(links).toHaveLength(1);
  const winner = links[0]!.entraId!;
  const loser = ids.find((id) => id !== winner)!;
  expect(ids).toContain(winner);
  expect(links[0]!.userId).toBe(rowId);
  const row = h.rt.store.db.prepare('SELECT * FROM users WHERE id = ?').get(rowId) as { external_id: string };
  expect(row.external_id).toBe(winner);
  const errors = audit('error');
  expect(errors).toHaveLength(1);
  expect(errors[0]!.entraId).toBe(loser);
  expect(errors[0]!.reason).toContain(`local row ${rowId}`);
  expect(errors[0]!.reason).toContain(`is already linked to ${winner}`);
  expect(failing().map((f) => f.entraId)).toEqual([loser]);
  expect(h.rt.store.tables.users.findByExternalId(loser)).toBeNull();

  h.rt.store.tables.pending.retryFailed();
  await h.sync();
  expect(h.rt.store.tables.users.findByExternalId(winner)?.id).toBe(rowId);
  expect(audit('link')).toHaveLength(1);
  if (onRetry === 'fails') {
    expect(h.rt.store.tables.users.findByExternalId(loser)).toBeNull();
    expect(failing()).toEqual([expect.objectContaining({ entraId: loser, failures: 2 })]);
    expect(audit('error')[1]!.reason).toMatch(
      new RegExp(`already belongs to another Entra user \\(${winner}\\)`),
    );
  } else {
    expect(h.rt.store.tables.users.findByExternalId(loser)!.id).not.toBe(rowId);
    expect(failing()).toEqual([]);
  }
  return { winner, loser };
}

describe('one local row, two Entra users in one cycle', () => {
  it('links the row to one of two users whose userName differs only in case; the other fails', async () => {
    h = syncHarness(emu);
    const rowId = localRow('ADMIN@contoso.com');
    const a = assigned('admin@contoso.com');
    const b = assigned('Admin@Contoso.com');
    await expectOneLinkOneFailure(rowId, [a.id, b.id]);
    expect(h.rows()).toHaveLength(1);
  });

  it('the same with the work email as matching attribute at precedence 2', async () => {
    h = syncHarness(emu, {
      settings: {
        mappings: [
          { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
          { target: 'emails[type eq "work"].value', direct: 'mail', matchingPrecedence: 2 },
          { target: 'displayName', direct: 'displayName' },
        ],
      },
    });
    const rowId = localRow('local-admin', 'ADMIN@contoso.com');
    const a = assigned('one@contoso.com', { mail: 'admin@contoso.com' });
    const b = assigned('two@contoso.com', { mail: 'Admin@Contoso.com' });
    await expectOneLinkOneFailure(rowId, [a.id, b.id], 'created');
  });

  it('unassigning the loser leaves the row alone; unassigning the winner disables it, still linked to the winner', async () => {
    h = syncHarness(emu);
    const rowId = localRow('ADMIN@contoso.com');
    const a = assigned('admin@contoso.com');
    const b = assigned('Admin@Contoso.com');
    const { winner, loser } = await expectOneLinkOneFailure(rowId, [a.id, b.id]);

    emu.tenant.unassign(loser);
    await h.sync();
    expect(h.rt.store.tables.users.get(rowId)).toMatchObject({ externalId: winner, active: true });

    emu.tenant.unassign(winner);
    await h.sync();
    expect(h.rt.store.tables.users.get(rowId)).toMatchObject({ externalId: winner, active: false });
    expect(h.rows()).toHaveLength(1);
  });
});

describe('one userName, two Entra users in one batch', () => {
  it('with no local row: the first is created, the second fails naming the first', async () => {
    h = syncHarness(emu);
    const a = assigned('new@contoso.com');
    const b = assigned('NEW@contoso.com');
    await h.sync();
    expect(h.rows()).toHaveLength(1);
    const winner = h.rows()[0]!.external_id!;
    const loser = winner === a.id ? b.id : a.id;
    expect(audit('error')).toEqual([
      expect.objectContaining({
        entraId: loser,
        reason: expect.stringMatching(new RegExp(`already belongs to another Entra user \\(${winner}\\)`)),
      }),
    ]);
    expect(failing().map((f) => f.entraId)).toEqual([loser]);
  });
});

describe('under the daemon', () => {
  it('links the row once, and `entrasync status` lists the other user as failing with the conflict', async () => {
    const dir = tempDir();
    writeSettings(dir);
    const env = emulatorEnv(emu, dir);
    const store = Store.open(env.ENTRASYNC_DB!);
    store.db.prepare(`INSERT INTO users (user_name) VALUES ('ADMIN@contoso.com')`).run();
    const rowId = store.tables.users.findByUserName('ADMIN@contoso.com')!.id;
    store.close();
    const a = assigned('admin@contoso.com');
    const b = assigned('Admin@Contoso.com');

    const d = await startDaemon({ ...env, ENTRASYNC_LOG_LEVEL: 'info', ENTRASYNC_SCHEDULE: '0 0 1 1 *' });
    await d.waitFor(cycleFinished);
    expect(await d.stop()).toBe(0);

    const after = Store.open(env.ENTRASYNC_DB!);
    try {
      const links = after.tables.audit.query({ action: 'link' });
      expect(links).toHaveLength(1);
      const winner = links[0]!.entraId!;
      const loser = winner === a.id ? b.id : a.id;
      expect(after.tables.users.get(rowId)!.externalId).toBe(winner);
      const status = await runCli(['status'], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toMatch(/Failing users: 1/);
      expect(status.stdout).toContain(loser);
      expect(status.stdout).toContain(`local row ${rowId}`);
    } finally {
      after.close();
    }
  });
});

describe('the store links a row at most once', () => {
  it('a conditional link of a row linked meanwhile fails, naming the Entra user that holds it', () => {
    const dir = tempDir();
    const store = Store.open(join(dir, 'store.db'));
    try {
      store.db.prepare(`INSERT INTO users (user_name) VALUES ('shared@contoso.com')`).run();
      const stale = store.tables.users.findByUserName('shared@contoso.com')!;
      store.tables.users.link(stale, { ...stale.resource, displayName: 'First' }, 'entra-1');
      expect(() =>
        store.tables.users.link(stale, { ...stale.resource, displayName: 'Second' }, 'entra-2'),
      ).toThrow(LinkConflictError);
      expect(() => store.tables.users.link(stale, stale.resource, 'entra-2')).toThrow(
        `local row ${stale.id} (shared@contoso.com) is already linked to entra-1`,
      );
      expect(store.tables.users.get(stale.id)).toMatchObject({ externalId: 'entra-1', displayName: 'First' });
      // A row the application marked linkable = 0 is never linked, whatever the planner thought.
      store.db.prepare(`INSERT INTO users (user_name, linkable) VALUES ('own@contoso.com', 0)`).run();
      const own = store.tables.users.findByUserName('own@contoso.com')!;
      expect(() => store.tables.users.link(own, own.resource, 'entra-3')).toThrow(/not linkable/);
      expect(store.tables.users.get(own.id)!.externalId).toBeNull();
    } finally {
      store.close();
    }
  });
});

describe('linking switched off or restricted', () => {
  it('without any matchingPrecedence, a local row with the same userName fails that user instead of being taken over', async () => {
    h = syncHarness(emu, {
      settings: {
        mappings: [
          { target: 'userName', direct: 'userPrincipalName' },
          { target: 'displayName', direct: 'displayName' },
        ],
      },
    });
    const rowId = localRow('victim@contoso.com');
    const victim = assigned('Victim@contoso.com');
    const other = assigned('other@contoso.com');
    const result = await h.sync();
    expect(result.status).toBe('succeeded');
    expect(h.rt.store.tables.users.get(rowId)).toMatchObject({ externalId: null, displayName: 'Local' });
    expect(h.rt.store.tables.users.findByExternalId(other.id)?.userName).toBe('other@contoso.com');
    expect(audit('link')).toHaveLength(0);
    expect(audit('error')).toEqual([
      expect.objectContaining({
        entraId: victim.id,
        reason: expect.stringMatching(/already belongs to a local user/),
      }),
    ]);
    expect(failing().map((f) => f.entraId)).toEqual([victim.id]);
  });

  it('matching.linkOnlyWhere: linkable links only the rows the application marked linkable = 1', async () => {
    h = syncHarness(emu, { settings: { matching: { linkOnlyWhere: 'linkable' } } });
    const marked = localRow('marked@contoso.com', null, 1);
    const unmarked = localRow('unmarked@contoso.com', null, null);
    const refused = localRow('refused@contoso.com', null, 0);
    const m = assigned('marked@contoso.com');
    const u = assigned('unmarked@contoso.com');
    const r = assigned('refused@contoso.com');
    await h.sync();
    expect(h.rt.store.tables.users.get(marked)!.externalId).toBe(m.id);
    expect(h.rt.store.tables.users.get(unmarked)!.externalId).toBeNull();
    expect(h.rt.store.tables.users.get(refused)!.externalId).toBeNull();
    expect(
      failing()
        .map((f) => f.entraId)
        .sort(),
    ).toEqual([u.id, r.id].sort());
    const reasons = audit('error').map((e) => e.reason);
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) expect(reason).toMatch(/not marked linkable/);
  });

  it('by default (linkOnlyWhere: any) every row but those marked linkable = 0 may be linked', async () => {
    h = syncHarness(emu);
    const unmarked = localRow('unmarked@contoso.com');
    const refused = localRow('refused@contoso.com', null, 0);
    const u = assigned('unmarked@contoso.com');
    const r = assigned('refused@contoso.com');
    await h.sync();
    expect(h.rt.store.tables.users.get(unmarked)!.externalId).toBe(u.id);
    expect(h.rt.store.tables.users.get(refused)!.externalId).toBeNull();
    expect(failing().map((f) => f.entraId)).toEqual([r.id]);
  });

  it('an unknown linkOnlyWhere names the key and exits 2', async () => {
    const dir = tempDir();
    writeSettings(dir, { matching: { linkOnlyWhere: 'everyone' } });
    const env = emulatorEnv(emu, dir);
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/matching\.linkOnlyWhere/);
    const cli = await runCli(['status'], env);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/matching\.linkOnlyWhere/);
  });
});

describe('userName folding: ASCII case only, for uniqueness and matching alike', () => {
  it('names that differ in non-ASCII case are different users; a rename onto another one fails naming the conflict', async () => {
    h = syncHarness(emu);
    const rowId = localRow('ärger@contoso.com');
    const upper = assigned('Ärger@contoso.com');
    await h.sync();
    // Not linked: Ä and ä are different names to the store, so to matching too.
    expect(h.rt.store.tables.users.get(rowId)!.externalId).toBeNull();
    expect(h.rt.store.tables.users.findByExternalId(upper.id)!.userName).toBe('Ärger@contoso.com');
    expect(audit('link')).toHaveLength(0);

    emu.tenant.updateUser(upper.id, { userPrincipalName: 'ärger@contoso.com' });
    await h.sync();
    expect(h.rt.store.tables.users.findByExternalId(upper.id)!.userName).toBe('Ärger@contoso.com');
    const errors = audit('error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ entraId: upper.id });
    expect(errors[0]!.reason).toMatch(/userName "ärger@contoso.com" already belongs to another user/);
    expect(failing().map((f) => f.entraId)).toEqual([upper.id]);
  });
});

describe('userName with invisible or control characters', () => {
  it.each([
    ['right-to-left override', '\u202E', 'U+202E'],
    ['zero-width space', '\u200B', 'U+200B'],
    ['first strong isolate', '\u2068', 'U+2068'],
    ['C1 control (NEL)', '\u0085', 'U+0085'],
  ])('fails the user whose userName holds a %s; the others sync', async (_name, char, codePoint) => {
    h = syncHarness(emu);
    const bad = assigned(`adm${char}in@contoso.com`);
    const good = assigned('good@contoso.com');
    const result = await h.sync();
    expect(result.status).toBe('succeeded');
    expect(h.rows().map((r) => r.external_id)).toEqual([good.id]);
    const errors = audit('error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.entraId).toBe(bad.id);
    expect(errors[0]!.reason).toContain(codePoint);
    expect(failing().map((f) => f.entraId)).toEqual([bad.id]);
  });

  it('a linked user renamed to such a name keeps its row unchanged and fails', async () => {
    h = syncHarness(emu);
    const u = assigned('plain@contoso.com');
    await h.sync();
    emu.tenant.updateUser(u.id, { userPrincipalName: 'pl\u202Eain@contoso.com' });
    await h.sync();
    expect(h.rt.store.tables.users.findByExternalId(u.id)!.userName).toBe('plain@contoso.com');
    expect(audit('error')[0]!.reason).toContain('U+202E');
    expect(failing().map((f) => f.entraId)).toEqual([u.id]);
  });
});
