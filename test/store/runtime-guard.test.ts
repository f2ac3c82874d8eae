/** The start-up guard against Node releases that abort better-sqlite3 12 (nodejs/node#65446). */
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unsafeRuntimeReason } from '../../src/store/runtime-guard.js';
import { runCli, tempDir } from '../support/harness.js';

describe('unsafeRuntimeReason', () => {
  const cases: [string, boolean][] = [
    ['20.19.0', false],
    ['v20.20.2', false],
    ['22.23.5', false],
    ['24.18.1', false],
    ['24.19.0', true],
    ['v24.20.0', true],
    ['24.21.0', true],
    ['24.21.9', true],
    ['24.22.0', false],
    ['24.22.3', false],
    ['25.0.0', false],
    ['garbage', false],
  ];
  for (const [version, unsafe] of cases) {
    it(`${version} is ${unsafe ? 'refused' : 'accepted'}`, () => {
      const reason = unsafeRuntimeReason(version);
      if (unsafe) {
        expect(reason).toContain(`Node.js ${version.replace(/^v/, '')} aborts`);
        expect(reason).toContain('24.22.3');
      } else expect(reason).toBeNull();
    });
  }
});

describe('the CLI on an aborting runtime', () => {
  it('refuses to start with exit 2, names the safe versions, and touches no store', async () => {
    const dir = tempDir();
    // The runtime reports itself as 24.21.0 (the test runs on whatever Node CI has).
    const preload = join(dir, 'node-24.21.0.mjs');
    writeFileSync(
      preload,
      `Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '24.21.0' } });\n`,
    );
    const db = join(dir, 'store.db');
    const r = await runCli(['status'], { NODE_OPTIONS: `--import ${preload}`, ENTRASYNC_DB: db });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Node\.js 24\.21\.0 aborts .*nodejs\/node#65446.*24\.22\.3 and later/);
    expect(existsSync(db)).toBe(false);

    const fine = await runCli(['--version'], { NODE_OPTIONS: '' });
    expect(fine.code).toBe(0);
    expect(fine.stdout.trim()).toBe('0.1.0');
  });
});
