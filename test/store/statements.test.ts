/**
 * Statements are prepared once per connection and held (defence in depth for nodejs/node#65446:
 * a statement the garbage collector never finalizes cannot abort the process).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { prepared } from '../../src/store/statements.js';
import { createEnabledUser, startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;
const ids: string[] = [];
beforeAll(async () => {
  emu = await startTestEmulator({ pageSize: 5 });
  for (let i = 0; i < 12; i++) {
    ids.push(createEnabledUser(emu, `held${i}@contoso.com`).id);
    emu.tenant.assign(ids[i]!, 'User');
  }
  h = syncHarness(emu);
});
afterAll(async () => {
  h.close();
  await emu.close();
});

describe('statements held for the life of the store', () => {
  it('the same text gives the same statement', () => {
    const a = prepared(h.rt.store.db, 'SELECT count(*) FROM users');
    expect(prepared(h.rt.store.db, 'SELECT count(*) FROM users')).toBe(a);
  });

  it('once the cycle paths have run, further cycles prepare no statement', async () => {
    const prepare = vi.spyOn(h.rt.store.db, 'prepare');
    const cycle = async (change: number) => {
      emu.tenant.updateUser(ids[change]!, {
        displayName: `Held ${change}`,
      });
      prepare.mockClear();
      expect((await h.sync()).status).toBe('succeeded');
      return prepare.mock.calls.map(([sql]) => sql);
    };
    expect((await h.sync()).status).toBe('succeeded');
    await cycle(1);
    await cycle(2);
    // A user changed, a page read, a batch written: the same paths as the cycles before.
    expect(await cycle(3)).toEqual([]);
    expect(await cycle(4)).toEqual([]);
    expect(h.row('held4@contoso.com')?.display_name).toBe('Held 4');
    prepare.mockRestore();
  });
});
