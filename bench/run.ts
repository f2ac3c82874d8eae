/**
 * `npm run bench`: entrasync against the emulator (a separate process, over HTTPS), each row beside
 * a bare baseline measured in the same run (bench/baseline.mjs: plain fetch of the same users/delta
 * pages + one prepared INSERT per item in one transaction). Prints a Markdown table and writes
 * bench/results/bench-<time>.json. See bench/README.md.
 *
 *   npm run bench                                    # everything (half an hour or more)
 *   npm run bench -- --sizes 10000 --only initial     # a quick run
 *   npm run bench -- --latency 100                    # 100 ms per Graph request, as against the real service
 *
 * --only: comma list of initial, initial1pct, nochange, incremental, resync, small, scoped1pct,
 *   groups (default: all). groups: a --tenant tenant in 1,000 assigned groups (up to 5,000 members
 *   each, no user assigned directly): the initial sync and a cycle with 100 membership changes. nochange/incremental/resync run in a --tenant tenant with every user assigned;
 *   scoped1pct runs the same cycles in a --tenant tenant with 1% assigned.
 * --sizes: tenant sizes of the initial rows (default 10000,100000,1000000; 10000,100000 with --latency)
 * --tenant: tenant size of the cycles after the initial one (default 100000)
 * --strategies: users read strategies of the 1%-assigned rows (default tenant,scoped)
 * --no-baseline: skip the baselines; --profile: CPU-profile each entrasync run (bench/results/profiles)
 * --store sqlite|postgres: the store (default sqlite); postgres runs one embedded server for the
 *   whole run, a database per row, and the baseline of bench/baseline-pg.mjs
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { fmt, line, table, type Row, type Side } from './format.js';
import { summarise } from './profile.js';
import { CLI, EmulatorProcess, ROOT, timedRun, type Timed } from './lib.js';
import { postgresStore, sqliteStore, type BenchStore } from './stores.js';

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    sizes: { type: 'string' },
    tenant: { type: 'string' },
    strategies: { type: 'string' },
    latency: { type: 'string' },
    'no-baseline': { type: 'boolean' },
    profile: { type: 'boolean' },
    out: { type: 'string' },
    store: { type: 'string' },
  },
});

const latencyMs = Number(flags.latency ?? 0);
const only = new Set(
  (flags.only ?? 'initial,initial1pct,nochange,incremental,resync,scoped1pct,small,groups')
    .split(',')
    .map((s) => s.trim()),
);
const sizes = (flags.sizes ?? (latencyMs ? '10000,100000' : '10000,100000,1000000')).split(',').map(Number);
const tenantSize = Number(flags.tenant ?? 100_000);
const strategies = (flags.strategies ?? 'tenant,scoped').split(',').map((s) => s.trim());
const withBaseline = !flags['no-baseline'];
const resultsDir = join(ROOT, 'bench/results');
const work = join(resultsDir, `work-${process.pid}`);
mkdirSync(work, { recursive: true });
const storeKind = flags.store ?? 'sqlite';
if (storeKind !== 'sqlite' && storeKind !== 'postgres')
  throw new Error(`--store must be sqlite or postgres, not ${storeKind}`);
const store: BenchStore = storeKind === 'postgres' ? await postgresStore() : sqliteStore(work);

/** What config/default.yaml's mappings select; the baseline reads the same properties. */
const SELECT = 'accountEnabled,displayName,mail,userPrincipalName';
const FULL_ROUND = `/users/delta?$select=${SELECT}`;

const rows: Row[] = [];

function envFor(
  emu: EmulatorProcess,
  db: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const i = emu.info;
  return {
    NODE_EXTRA_CA_CERTS: i.caFile,
    ENTRASYNC_TENANT_ID: i.tenantId,
    ENTRASYNC_CLIENT_ID: i.clientId,
    ENTRASYNC_CLIENT_SECRET: i.clientSecret,
    ENTRASYNC_AUTHORITY_HOST: i.url,
    ENTRASYNC_GRAPH_URL: i.url,
    ENTRASYNC_DB: db,
    ENTRASYNC_LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function runEntrasync(
  emu: EmulatorProcess,
  db: string,
  command: 'sync' | 'resync',
  label: string,
  extraEnv: Record<string, string> = {},
): Promise<Row['entrasync']> {
  await emu.takeRequests();
  const profDir = join(work, `prof-${label}`);
  rmSync(profDir, { recursive: true, force: true });
  const node = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const run: Timed = await timedRun([...node, CLI, command, '--json'], envFor(emu, db, extraEnv));
  if (run.code !== 0) throw new Error(`entrasync ${command} exited ${run.code}: ${run.stderr.slice(-2000)}`);
  const requests = await emu.takeRequests();
  const out = JSON.parse(run.stdout) as { cycleId: string; status: string; counts: Record<string, number> };
  if (out.status !== 'succeeded') throw new Error(`cycle ${out.status}`);
  const cycle = await store.cycle(db, out.cycleId);
  let profile: unknown;
  if (flags.profile) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) {
      const kept = join(resultsDir, 'profiles', `${label}.cpuprofile`);
      mkdirSync(dirname(kept), { recursive: true });
      renameSync(join(profDir, file), kept);
      profile = { file: kept, ...summarise(kept, 20) };
    }
    rmSync(profDir, { recursive: true, force: true });
  }
  return {
    wallMs: Math.round(run.wallMs),
    peakRssMb: run.peakRssMb,
    cpuS: run.cpuS,
    requests: requests.total,
    dbMb: await store.sizeMb(db),
    counts: out.counts,
    requestKinds: requests,
    cycleRequests: cycle.requests,
    cycleMs: cycle.ms,
    ...(profile ? { profile } : {}),
  };
}

async function runBaseline(emu: EmulatorProcess, first: string, minimal: boolean): Promise<Side> {
  const db = await store.create('baseline');
  await emu.takeRequests();
  const i = emu.info;
  const run = await timedRun([store.baseline, db, first, ...(minimal ? ['minimal'] : [])], {
    NODE_EXTRA_CA_CERTS: i.caFile,
    BASE_URL: i.url,
    TENANT_ID: i.tenantId,
    CLIENT_ID: i.clientId,
    CLIENT_SECRET: i.clientSecret,
  });
  if (run.code !== 0) throw new Error(`baseline exited ${run.code}: ${run.stderr.slice(-2000)}`);
  const requests = await emu.takeRequests();
  const out = JSON.parse(run.stdout.trim()) as { items: number };
  const side = {
    wallMs: Math.round(run.wallMs),
    peakRssMb: run.peakRssMb,
    cpuS: run.cpuS,
    requests: requests.total,
    dbMb: await store.sizeMb(db),
    items: out.items,
  };
  await store.remove(db);
  return side;
}

async function record(
  row: Omit<Row, 'entrasync' | 'baseline' | 'ratio' | 'latencyMs'>,
  entrasync: () => Promise<Row['entrasync']>,
  baseline: (() => Promise<Side>) | null,
): Promise<void> {
  const e = await entrasync();
  const b = withBaseline && baseline ? await baseline() : undefined;
  const full: Row = {
    ...row,
    ...(store.kind === 'sqlite' ? {} : { store: store.kind }),
    latencyMs,
    entrasync: e,
  };
  if (b) {
    full.baseline = b;
    full.ratio = Math.round((e.wallMs / b.wallMs) * 100) / 100;
  }
  rows.push(full);
  console.error(`  ${line(full)}`);
}

/** A fresh emulator with `users` bulk users, every `assignEvery`-th assigned. */
async function tenant(users: number, assignEvery: number): Promise<EmulatorProcess> {
  const emu = await EmulatorProcess.start(200);
  await emu.ctl('POST', '/bulk', { users, assignEvery });
  if (latencyMs) await emu.ctl('POST', '/faults', { latencyMs });
  return emu;
}

/** `n` changes to provisioned users: 80% renamed, 10% disabled, 10% soft-deleted. */
async function change(emu: EmulatorProcess, db: string, n: number, round: number): Promise<void> {
  const ids = await store.idsToChange(db, n);
  if (ids.length < n) throw new Error(`only ${ids.length} users to change`);
  await emu.ctlMany(
    ids.map((id, k) => () => {
      const kind = k % 10;
      if (kind === 8) return emu.ctl('PATCH', `/users/${id}`, { accountEnabled: false });
      if (kind === 9) return emu.ctl('POST', `/users/${id}/softDelete`);
      return emu.ctl('PATCH', `/users/${id}`, { displayName: `Renamed ${round}-${k}` });
    }),
  );
}

const strategyEnv = (strategy?: string): Record<string, string> =>
  strategy ? { ENTRASYNC_USERS_STRATEGY: strategy } : {};

/** Initial sync of a fresh tenant (one emulator and store per row). */
async function initialRow(n: number, assignEvery: number, strategy?: string): Promise<void> {
  const emu = await tenant(n, assignEvery);
  const db = await store.create('store');
  try {
    await record(
      {
        scenario: assignEvery === 1 ? 'initial, all assigned' : 'initial, 1% assigned',
        strategy: strategy ?? 'auto',
        tenantUsers: n,
        assigned: Math.ceil(n / assignEvery),
        itemsForRate: n,
      },
      () =>
        runEntrasync(
          emu,
          db,
          'sync',
          `initial-${n}-${assignEvery}-${strategy ?? 'auto'}`,
          strategyEnv(strategy),
        ),
      () => runBaseline(emu, FULL_ROUND, false),
    );
  } finally {
    await store.remove(db);
    await emu.stop();
  }
}

/** A tenant of `n` (every `assignEvery`-th assigned): the initial cycle, then the cycles after it. */
async function tenantSession(n: number, assignEvery: number, reportInitial: boolean): Promise<void> {
  const emu = await tenant(n, assignEvery);
  const db = await store.create('store');
  const assigned = Math.ceil(n / assignEvery);
  const what = assignEvery === 1 ? 'all assigned' : '1% assigned';
  try {
    if (reportInitial)
      await record(
        { scenario: `initial, ${what}`, strategy: 'auto', tenantUsers: n, assigned, itemsForRate: n },
        () => runEntrasync(emu, db, 'sync', `initial-${n}-${assignEvery}-auto`),
        () => runBaseline(emu, FULL_ROUND, false),
      );
    else {
      console.error(`  (setup: initial sync of ${fmt(n)}, ${what})`);
      await runEntrasync(emu, db, 'sync', `setup-${n}-${assignEvery}`);
    }
    if (only.has('nochange') || assignEvery !== 1) {
      const link = await store.deltaLink(db);
      await record(
        { scenario: `no-change cycle, ${what}`, tenantUsers: n, assigned, changes: 0, itemsForRate: 0 },
        () => runEntrasync(emu, db, 'sync', `nochange-${n}-${assignEvery}`),
        () => runBaseline(emu, link, true),
      );
    }
    if (only.has('incremental') || assignEvery !== 1) {
      const sizes = assignEvery === 1 ? [100, 10_000] : [100];
      for (const [k, changes] of sizes.entries()) {
        await change(emu, db, changes, k);
        const link = await store.deltaLink(db);
        await record(
          {
            scenario: `incremental, ${fmt(changes)} changes, ${what}`,
            tenantUsers: n,
            assigned,
            changes,
            itemsForRate: changes,
          },
          () => runEntrasync(emu, db, 'sync', `incremental-${changes}-${n}-${assignEvery}`),
          () => runBaseline(emu, link, true),
        );
      }
    }
    if (only.has('resync') || assignEvery !== 1) {
      await record(
        { scenario: `resync, ${what}`, strategy: 'auto', tenantUsers: n, assigned, itemsForRate: n },
        () => runEntrasync(emu, db, 'resync', `resync-${n}-${assignEvery}`),
        () => runBaseline(emu, FULL_ROUND, false),
      );
    }
  } finally {
    await store.remove(db);
    await emu.stop();
  }
}

/** The 100-change incremental cycle in a 1,000-user tenant: the cost must follow the changes. */
async function smallTenant(): Promise<void> {
  const n = 1000;
  const emu = await tenant(n, 1);
  const db = await store.create('store');
  try {
    await runEntrasync(emu, db, 'sync', 'setup-small');
    await change(emu, db, 100, 0);
    const link = await store.deltaLink(db);
    await record(
      {
        scenario: 'incremental, 100 changes, all assigned',
        tenantUsers: n,
        assigned: n,
        changes: 100,
        itemsForRate: 100,
      },
      () => runEntrasync(emu, db, 'sync', `incremental-100-${n}-1`),
      () => runBaseline(emu, link, true),
    );
  } finally {
    await store.remove(db);
    await emu.stop();
  }
}

/** Groups in the bench tenant, and the members of the largest ones (Entra's nesting aside). */
const GROUPS = 1000;
const LARGEST_GROUP = 5000;

/**
 * A tenant in 1,000 assigned groups: the initial sync (users and groups with their memberships), then
 * 100 membership changes (half removals, half additions, each in another group).
 */
async function groupsSession(): Promise<void> {
  const n = tenantSize;
  const emu = await EmulatorProcess.start(200);
  const { first } = await emu.ctl<{ first: number }>('POST', '/bulk', { users: n });
  await emu.ctl('POST', '/bulkGroups', {
    first,
    users: n,
    groups: GROUPS,
    largest: LARGEST_GROUP,
    assign: true,
  });
  if (latencyMs) await emu.ctl('POST', '/faults', { latencyMs });
  const db = await store.create('store');
  const what = `${fmt(GROUPS)} assigned groups`;
  try {
    await record(
      { scenario: `initial, ${what}`, tenantUsers: n, assigned: n, itemsForRate: n },
      () => runEntrasync(emu, db, 'sync', `initial-groups-${n}`),
      null,
    );
    const counts = await store.groupCounts(db);
    console.error(`  store: ${fmt(counts.groups)} groups, ${fmt(counts.memberships)} memberships`);
    if (counts.groups !== GROUPS) throw new Error(`${counts.groups} groups in the store, not ${GROUPS}`);
    const pairs = await store.membershipsToChange(db, 100);
    if (pairs.length < 100) throw new Error(`only ${pairs.length} memberships to change`);
    await emu.ctlMany(
      pairs.map((p, k) => async () => {
        if (k % 2 === 0) return emu.ctl('DELETE', `/groups/${p.groupId}/members/${p.userId}`);
        // The member joins another group of the list, the first one it is not in already.
        for (let j = 1; j < pairs.length; j++) {
          const other = pairs[(k + 2 * j) % pairs.length]!.groupId;
          try {
            return await emu.ctl('POST', `/groups/${other}/members/${p.userId}`);
          } catch (e) {
            if (!/already exist/.test((e as Error).message)) throw e;
          }
        }
        throw new Error(`no group to add ${p.userId} to`);
      }),
    );
    await record(
      {
        scenario: `incremental, 100 membership changes, ${what}`,
        tenantUsers: n,
        assigned: n,
        changes: 100,
        itemsForRate: 100,
      },
      () => runEntrasync(emu, db, 'sync', `incremental-groups-${n}`),
      null,
    );
    const after = await store.groupCounts(db);
    console.error(`  store: ${fmt(after.memberships)} memberships after the changes`);
    if (after.memberships !== counts.memberships)
      throw new Error('50 removals and 50 additions changed the count');
  } finally {
    await store.remove(db);
    await emu.stop();
  }
}

const machine = {
  host: hostname(),
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGb: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  latencyMs,
  store: store.kind,
};
console.error(
  `entrasync bench on ${machine.cores}× ${machine.cpu}, ${machine.node}, Graph latency ${latencyMs} ms, store ${store.kind}`,
);

const started = Date.now();
const session = only.has('nochange') || only.has('incremental') || only.has('resync');
try {
  if (only.has('initial'))
    for (const n of sizes) {
      if (session && n === tenantSize) continue; // reported by the session below
      // Up to 10,000 users in scope, auto reads by id: both strategies are shown there.
      for (const strategy of n <= 10_000 ? strategies : [undefined]) {
        console.error(`initial, all assigned, ${fmt(n)}, ${strategy ?? 'auto'}`);
        await initialRow(n, 1, strategy);
      }
    }
  if (only.has('initial1pct'))
    for (const n of sizes)
      for (const strategy of strategies) {
        console.error(`initial, 1% assigned, ${fmt(n)}, ${strategy}`);
        await initialRow(n, 100, strategy);
      }
  if (session) {
    console.error(`tenant of ${fmt(tenantSize)}, all assigned: the cycles after the initial one`);
    await tenantSession(tenantSize, 1, only.has('initial') && sizes.includes(tenantSize));
  }
  if (only.has('scoped1pct')) {
    console.error(`tenant of ${fmt(tenantSize)}, 1% assigned: the cycles after the initial one`);
    await tenantSession(tenantSize, 100, false);
  }
  if (only.has('groups')) {
    console.error(`tenant of ${fmt(tenantSize)} in ${fmt(GROUPS)} assigned groups`);
    await groupsSession();
  }
  if (only.has('small')) {
    console.error('tenant of 1,000: incremental');
    await smallTenant();
  }
} finally {
  await store.close();
  rmSync(work, { recursive: true, force: true });
  const result = {
    machine,
    startedAt: new Date(started).toISOString(),
    durationS: (Date.now() - started) / 1000,
    rows,
  };
  const out =
    flags.out ?? join(resultsDir, `bench-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(table(rows));
  console.error(`\nwritten ${out}`);
}
