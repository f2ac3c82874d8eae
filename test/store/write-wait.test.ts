/**
 * Store.write waits for another connection's write lock between short attempts: the event loop
 * keeps turning during the wait, the wait is bounded by the busy timeout and ends on abort.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Store, StoreWaitAborted } from '../../src/store/index.js';
import type { StateKey } from '../../src/store/state.js';
import { ROOT, tempDir } from '../support/harness.js';

const open: { close(): void }[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** The store (entrasync's connection) and an application's connection holding the write lock. */
function lockedStore(busyTimeoutMs: number) {
  const path = join(tempDir('entrasync-write-wait-'), 'store.db');
  const store = Store.open(path, { busyTimeoutMs });
  const app = new Database(path);
  open.push(store, app);
  app.exec('BEGIN IMMEDIATE');
  app.exec('UPDATE sync_state SET value = value');
  return { store, app };
}

const stateOf = (store: Store, key: StateKey) => store.tables.state.get(key);

describe('Store.write while another connection holds the write lock', () => {
  it('waits without blocking the event loop, then writes', async () => {
    const { store, app } = lockedStore(10_000);
    let ticks = 0;
    const counter = setInterval(() => ticks++, 20);
    // The lock is released by a timer: it can only fire if the wait lets the event loop turn.
    setTimeout(() => app.exec('COMMIT'), 600);
    const t0 = Date.now();
    const waits: number[] = [];
    const probe = setInterval(() => waits.push(store.lockWaits.waiting), 100);
    await store.write(async () => store.tables.state.set('fingerprint', 'written'), 'test');
    clearInterval(counter);
    clearInterval(probe);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
    expect(ticks).toBeGreaterThan(10);
    expect(waits).toContain(1);
    expect(store.lockWaits.waiting).toBe(0);
    expect(store.lockWaits.waitedSeconds()).toBeGreaterThan(0.5);
    expect(stateOf(store, 'fingerprint')).toBe('written');
  });

  it('gives up after the busy timeout with SQLITE_BUSY, writing nothing', async () => {
    const { store } = lockedStore(400);
    const t0 = Date.now();
    await expect(
      store.write(async () => store.tables.state.set('fingerprint', 'x'), 'test'),
    ).rejects.toMatchObject({
      code: 'SQLITE_BUSY',
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(store.db.inTransaction).toBe(false);
    expect(stateOf(store, 'fingerprint')).toBeNull();
  });

  it('ends at once when the waits are aborted (a stopping process)', async () => {
    const { store } = lockedStore(60_000);
    const writing = store.write(async () => store.tables.state.set('fingerprint', 'x'), 'test');
    setTimeout(() => store.lockWaits.abort('stopping'), 200);
    const t0 = Date.now();
    await expect(writing).rejects.toBeInstanceOf(StoreWaitAborted);
    expect(Date.now() - t0).toBeLessThan(500);
    // Once stopping, a write that would have to wait gives up at its first attempt.
    await expect(
      store.write(async () => store.tables.state.set('fingerprint', 'y'), 'test'),
    ).rejects.toBeInstanceOf(StoreWaitAborted);
    expect(store.lockWaits.waiting).toBe(0);
  });

  it('tells the listener once about a wait longer than a second, with the operation', async () => {
    const { store, app } = lockedStore(10_000);
    const heard: unknown[][] = [];
    store.lockWaits.listener = {
      waiting: (...args) => heard.push(['waiting', ...args]),
      ended: (...args) => heard.push(['ended', ...args]),
    };
    setTimeout(() => app.exec('COMMIT'), 1500);
    await store.write(async () => store.tables.state.set('fingerprint', 'late'), 'delta link');
    expect(heard.map((h) => h.slice(0, 2))).toEqual([
      ['waiting', 'delta link'],
      ['ended', 'delta link'],
    ]);
    expect(heard[1]![3]).toBe('acquired');
    expect(heard[1]![2]).toBeGreaterThanOrEqual(1400);
  });

  it('a synchronous transaction (off the daemon path) still waits for the lock, blocking as before', async () => {
    const path = join(tempDir('entrasync-write-wait-'), 'store.db');
    const store = Store.open(path, { busyTimeoutMs: 10_000 });
    open.push(store);
    // Another process holds the lock for 700 ms: this process blocks meanwhile, so it cannot release it.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D=require('better-sqlite3');const d=new D(${JSON.stringify(path)});d.exec('BEGIN IMMEDIATE');` +
          `process.stdout.write('locked\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,700);d.exec('COMMIT');`,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    const t0 = Date.now();
    store.transactionNow(() => store.tables.state.set('fingerprint', 'blocking'));
    expect(Date.now() - t0).toBeGreaterThan(300);
    expect(stateOf(store, 'fingerprint')).toBe('blocking');
    await new Promise((r) => holder.once('exit', r));
  });
});
