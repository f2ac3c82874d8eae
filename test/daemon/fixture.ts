import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { Store } from '../../src/store/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, tempDir, writeSettings } from '../support/harness.js';
import { startDaemon, type Daemon } from './support.js';

/** An emulator with `users` assigned users, a store directory, and the daemons started on it. */
export interface Fixture {
  emu: RunningEmulator;
  dir: string;
  env: Record<string, string>;
  ids: string[];
  daemon(extra?: Record<string, string>): Promise<Daemon>;
  /** A second connection to the daemon's database, as an operator's sqlite3 would be. */
  store(): Store;
  close(): Promise<void>;
}

export async function fixture(users = 10, pageSize = 5): Promise<Fixture> {
  const emu = await startTestEmulator({ pageSize });
  const dir = tempDir('entrasync-daemon-');
  writeSettings(dir);
  const env = emulatorEnv(emu, dir, { ENTRASYNC_LOG_LEVEL: 'info' });
  const ids: string[] = [];
  for (let i = 0; i < users; i++) {
    const u = emu.tenant.createUser({
      userPrincipalName: `person${String(i).padStart(2, '0')}@contoso.com`,
      displayName: `Person Number ${i}`,
      mail: `person.mail${i}@contoso.com`,
      accountEnabled: true,
    });
    emu.tenant.assign(u.id, 'User');
    ids.push(u.id);
  }
  const daemons: Daemon[] = [];
  let store: Store | undefined;
  return {
    emu,
    dir,
    env,
    ids,
    async daemon(extra = {}) {
      const d = await startDaemon({ ...env, ...extra });
      daemons.push(d);
      return d;
    },
    store: () => (store ??= Store.open(join(dir, 'store.db'))),
    async close() {
      for (const d of daemons) await d.stop('SIGKILL');
      store?.close();
      await emu.close();
    },
  };
}

export const EVERY_SECOND = '*/1 * * * * *';
/** A schedule that does not fire during a test: only the start cycle runs. */
export const NEVER_DURING_TEST = '0 0 1 1 *';
