/**
 * Several processes opening a store that does not exist yet, at the same moment (a daemon and an
 * operator's command, two replicas): exactly one migrates, the others wait and find it migrated.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, ROOT, runCli, tempDir, writeSettings } from '../support/harness.js';

const OPEN_STORE = `
const { Store } = await import(${JSON.stringify(join(ROOT, 'dist/store/index.js'))});
// Start together: every process waits for the same wall-clock instant before opening.
const at = Number(process.argv[2]);
while (Date.now() < at) await new Promise((r) => setTimeout(r, 1));
Store.open(process.argv[1]).close();
`;

function openInChild(path: string, at: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', OPEN_STORE, path, String(at)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('migrations under concurrent first start', () => {
  it('4 processes on a missing store, 15 times over: all succeed, one schema', async () => {
    const dir = tempDir();
    const failures: string[] = [];
    for (let round = 0; round < 15; round++) {
      const path = join(dir, `store-${round}.db`);
      // Node's start-up takes ~100 ms when the machine is busy: leave room so they all line up.
      const at = Date.now() + 700;
      const results = await Promise.all([1, 2, 3, 4].map(() => openInChild(path, at)));
      for (const r of results) if (r.code !== 0) failures.push(`round ${round}: ${r.stderr.trim()}`);
      const db = new Database(path, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'`)
        .all();
      expect(tables).toHaveLength(1);
      db.close();
    }
    expect(failures).toEqual([]);
  });
});

describe('entrasync sync started several times at once on a missing store', () => {
  it('3 processes, 4 times over: every one exits 0 and the store holds each user once', async () => {
    const emu = await startTestEmulator();
    try {
      for (let i = 0; i < 5; i++)
        emu.tenant.assign(createEnabledUser(emu, `race${i}@contoso.com`).id, 'User');
      for (let round = 0; round < 4; round++) {
        const dir = tempDir();
        writeSettings(dir);
        const env = emulatorEnv(emu, dir);
        const results = await Promise.all([1, 2, 3].map(() => runCli(['sync', '--json'], env)));
        expect(results.map((r) => `${r.code} ${r.stderr.trim()}`)).toEqual(['0 ', '0 ', '0 ']);
        const db = new Database(env.ENTRASYNC_DB!, { readonly: true });
        const names = db.prepare('SELECT user_name FROM users ORDER BY user_name').pluck().all();
        expect(names).toEqual([0, 1, 2, 3, 4].map((i) => `race${i}@contoso.com`));
        db.close();
      }
    } finally {
      await emu.close();
    }
  });
});
