/**
 * Test harness: entrasync configured against an in-process emulator, through the real config
 * loader, msal-node and Graph client, over HTTPS.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadConfig, type Config } from '../../src/config/index.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import { wireRuntime, type Runtime } from '../../src/runtime.js';
import { Store } from '../../src/store/index.js';
import { runCycle, type CycleOptions, type CycleResult } from '../../src/sync/cycle.js';
import { Writable } from 'node:stream';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/cli.js');

export function tempDir(prefix = 'entrasync-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** config/default.yaml with overrides; retries made fast for tests. */
export function writeSettings(dir: string, overrides: Record<string, unknown> = {}): string {
  const base = parse(readFileSync(join(ROOT, 'config/default.yaml'), 'utf8')) as Record<string, unknown>;
  const settings = {
    ...base,
    graph: { maxAttempts: 6, retryBaseDelayMs: 20, retryMaxDelayMs: 200 },
    sync: { batchSize: 50, lockTtlSeconds: 5 },
    ...overrides,
  };
  const file = join(dir, 'settings.yaml');
  writeFileSync(file, stringify(settings));
  return file;
}

export function emulatorEnv(
  emu: RunningEmulator,
  dir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ENTRASYNC_TENANT_ID: emu.tenantId,
    ENTRASYNC_CLIENT_ID: emu.clientId,
    ENTRASYNC_CLIENT_SECRET: emu.clientSecret,
    ENTRASYNC_AUTHORITY_HOST: emu.url,
    ENTRASYNC_GRAPH_URL: emu.url,
    ENTRASYNC_DB: join(dir, 'store.db'),
    ENTRASYNC_CONFIG: join(dir, 'settings.yaml'),
    ENTRASYNC_LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Log lines captured in memory, for assertions on what was logged. */
export function memoryLogger(level: Config['logLevel'] = 'info'): {
  log: Logger;
  lines: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const log = createLogger(level, sink);
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface SyncHarness {
  dir: string;
  env: Record<string, string>;
  config: Config;
  /** The runtime, its store seen as the SQLite store it is (tests read its tables directly). */
  rt: Runtime & { store: Store };
  logs: () => Record<string, unknown>[];
  sync(options?: CycleOptions): Promise<CycleResult>;
  /** users table rows, sorted by user_name. */
  rows(): StoreRow[];
  row(userName: string): StoreRow | undefined;
  close(): void;
}

export interface StoreRow {
  id: string;
  external_id: string | null;
  user_name: string;
  display_name: string | null;
  email: string | null;
  active: number;
  scim: string;
}

export function syncHarness(
  emu: RunningEmulator,
  options: { settings?: Record<string, unknown>; env?: Record<string, string>; dir?: string } = {},
): SyncHarness {
  const dir = options.dir ?? tempDir();
  writeSettings(dir, options.settings);
  const env = emulatorEnv(emu, dir, options.env);
  const config = loadConfig(env);
  const { log, lines } = memoryLogger('info');
  const store = Store.open(config.dbPath, { busyTimeoutMs: config.settings.sync.busyTimeoutSeconds * 1000 });
  const rt = wireRuntime(config, log, store) as Runtime & { store: Store };
  const rows = () => rt.store.db.prepare('SELECT * FROM users ORDER BY user_name').all() as StoreRow[];
  return {
    dir,
    env,
    config,
    rt,
    logs: lines,
    sync: (o) => runCycle(rt, o),
    rows,
    row: (userName) =>
      rt.store.db.prepare('SELECT * FROM users WHERE user_name = ?').get(userName) as StoreRow | undefined,
    close: () => rt.close(),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a child process. */
export function runCli(args: string[], env: Record<string, string>, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
        cwd,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** The built CLI under a pseudo-terminal (util-linux `script`): stdout and stderr are both the terminal (merged here). */
export function runTty(args: string[], env: Record<string, string>): Promise<CliResult> {
  const command = [process.execPath, CLI, ...args].join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
        TERM: 'xterm',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout: stdout.replace(/\r/g, ''), stderr }));
  });
}
