/**
 * Daemon hardening, with the built CLI's `entrasync run`: it listens on loopback unless told
 * otherwise, /status carries no user name whatever the name contains, and the store it creates
 * (folder, database, -wal, -shm) is readable by its owner only.
 */
import { mkdirSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEnabledUser } from '../support/emulator.js';
import { runCli, tempDir } from '../support/harness.js';
import { NEVER_DURING_TEST, fixture, type Fixture } from './fixture.js';
import { cycleFinished } from './support.js';

let f: Fixture;
beforeEach(async () => {
  f = await fixture(3);
});
afterEach(() => f.close());

/**
 * Another address of this machine: a socket bound to 127.0.0.1 does not answer on 127.0.0.2, one
 * bound to 0.0.0.0 does (the test's traffic stays on loopback).
 */
const otherAddress = '127.0.0.2';

const reachable = async (host: string, port: number) => {
  try {
    await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
};

describe('bind address', () => {
  it('listens on 127.0.0.1 by default: not reachable on another address of the machine', async () => {
    const d = await f.daemon({ ENTRASYNC_HTTP_HOST: '', ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    const started = d.lines().find((l) => l.msg === 'daemon started')!;
    expect(started.http).toBe(`127.0.0.1:${d.port}`);
    expect(await reachable('127.0.0.1', d.port)).toBe(true);
    expect(await reachable(otherAddress, d.port)).toBe(false);
    expect(await d.stop()).toBe(0);
  });

  it('ENTRASYNC_HTTP_HOST=0.0.0.0 (the image) listens on every address', async () => {
    const d = await f.daemon({ ENTRASYNC_HTTP_HOST: '0.0.0.0', ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    expect(await reachable(otherAddress, d.port)).toBe(true);
    expect(await d.stop()).toBe(0);
  });
});

describe('/status redaction', () => {
  it('a user name with a `"` inside stays out of /status; `status` shows it', async () => {
    // A row linked to an Entra user that no longer exists holds the name: the new user fails on it.
    const name = 'o"hara.secret@contoso.com';
    const d = await f.daemon({ ENTRASYNC_SCHEDULE: '*/1 * * * * *' });
    await d.waitFor(cycleFinished);
    const writer = new Database(join(f.dir, 'store.db'));
    writer.pragma('busy_timeout = 5000');
    writer
      .prepare('INSERT INTO users (user_name, external_id) VALUES (?, ?)')
      .run(name, '11111111-2222-3333-4444-555555555555');
    writer.close();
    const u = createEnabledUser(f.emu, name, { displayName: 'Hara' });
    f.emu.tenant.assign(u.id, 'User');
    await d.waitFor((l) => cycleFinished(l) && (l.counts as { error?: number }).error === 1, 15_000);
    const http = await d.get('/status');
    const doc = http.json<{ failingUsers: { count: number; users: { entraId: string }[] } }>();
    expect(doc.failingUsers.count).toBe(1);
    expect(doc.failingUsers.users[0]!.entraId).toBe(u.id);
    for (const part of ['hara', 'secret', 'contoso', '@'])
      expect(http.body.toLowerCase()).not.toContain(part);
    const cli = await runCli(['status'], f.env);
    expect(cli.stdout).toContain('o"hara.secret@contoso.com');
    expect(await d.stop()).toBe(0);
  });
});

describe('file modes of a new store', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('a new folder is 0700; the database, -wal and -shm are 0600 (whatever the umask)', async () => {
    const folder = join(tempDir(), 'new', 'data');
    const db = join(folder, 'store.db');
    // The daemon inherits a umask that takes nothing away (the workers are processes: umask applies).
    const umask = process.umask(0);
    let d;
    try {
      d = await f.daemon({ ENTRASYNC_DB: db, ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    } finally {
      process.umask(umask);
    }
    await d.waitFor(cycleFinished);
    // The daemon holds the store open: -wal and -shm exist now.
    expect(mode(folder)).toBe(0o700);
    expect(mode(join(folder, '..'))).toBe(0o700);
    for (const file of [db, `${db}-wal`, `${db}-shm`]) expect(mode(file), file).toBe(0o600);
    expect(await d.stop()).toBe(0);
  });

  it('an existing folder and store keep their modes (they may be shared with the application)', async () => {
    const folder = join(tempDir(), 'shared');
    mkdirSync(folder);
    chmodSync(folder, 0o750);
    const db = join(folder, 'store.db');
    writeFileSync(db, '');
    chmodSync(db, 0o640);
    const d = await f.daemon({ ENTRASYNC_DB: db, ENTRASYNC_SCHEDULE: NEVER_DURING_TEST });
    await d.waitFor(cycleFinished);
    expect(mode(folder)).toBe(0o750);
    expect(mode(db)).toBe(0o640);
    expect(await d.stop()).toBe(0);
  });
});
