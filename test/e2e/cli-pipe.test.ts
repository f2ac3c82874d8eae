/** The built CLI writing into a pipe whose reader stops early, as `entrasync users export | head`. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { CLI, tempDir } from '../support/harness.js';

describe('output into a pipe closed early', () => {
  it('users export | head: exit 0, no stack trace', async () => {
    const db = join(tempDir(), 'store.db');
    const store = Store.open(db);
    // The application's own rows: far more output than a pipe buffers.
    const insert = store.db.prepare('INSERT INTO users (user_name, display_name) VALUES (?, ?)');
    store.db.transaction(() => {
      for (let i = 0; i < 3000; i++) insert.run(`local${i}@contoso.com`, `Local user number ${i}`);
    })();
    store.close();

    const child = spawn(process.execPath, [CLI, 'users', 'export'], {
      env: { PATH: process.env.PATH, ENTRASYNC_DB: db },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const firstChunk = await new Promise<string>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(d.toString())),
    );
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(firstChunk.startsWith('[')).toBe(true);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
