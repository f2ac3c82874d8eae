/**
 * The cycle lease's time to live comes from one place (sync/context.ts cycleLease), used by a
 * cycle, provision on demand and the daemon's scheduler alike: `sync.lockTtlSeconds`.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { acquireCycleLease, cycleLease } from '../../src/sync/context.js';
import { startTestEmulator } from '../support/emulator.js';
import { syncHarness, type SyncHarness } from '../support/harness.js';

let emu: RunningEmulator;
let h: SyncHarness;

beforeEach(async () => {
  emu = await startTestEmulator();
  h = syncHarness(emu, { settings: { sync: { batchSize: 50, lockTtlSeconds: 37 } } });
});
afterEach(async () => {
  h.close();
  await emu.close();
});

const expiry = () =>
  (
    h.rt.store.db.prepare('SELECT owner, expires_at FROM locks').get() as {
      owner: string;
      expires_at: number;
    }
  ).expires_at;

it('a lease handle expires sync.lockTtlSeconds after it is taken', async () => {
  const before = Date.now();
  const lease = cycleLease(h.rt, 'test owner');
  expect(await lease.tryAcquire()).toBeNull();
  expect(expiry()).toBeGreaterThanOrEqual(before + 37_000);
  expect(expiry()).toBeLessThanOrEqual(Date.now() + 37_000);
  await lease.release();
});

it('so does the lease a cycle waits for', async () => {
  const before = Date.now();
  const lease = await acquireCycleLease(h.rt, 'cycle owner');
  expect(expiry()).toBeGreaterThanOrEqual(before + 37_000);
  expect(expiry()).toBeLessThanOrEqual(Date.now() + 37_000);
  await lease.release();
});
