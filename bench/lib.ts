/** Helpers of `npm run bench`: the emulator as a child process, timed child runs, store figures. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

export const ROOT = resolve(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist/cli.js');
export const BASELINE = join(ROOT, 'bench/baseline.mjs');
export const BASELINE_PG = join(ROOT, 'bench/baseline-pg.mjs');
const TIME = '/usr/bin/time';

export interface EmulatorInfo {
  url: string;
  caFile: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

/** `entrasync emulator` in its own process, as production would talk to Graph. */
export class EmulatorProcess {
  private readonly agent: Agent;
  private constructor(
    readonly info: EmulatorInfo,
    private readonly child: ChildProcess,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 8, ca: readFileSync(info.caFile, 'utf8') });
  }

  static async start(pageSize = 200): Promise<EmulatorProcess> {
    const child = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_EMU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_EMU_PROF] : []),
        CLI,
        'emulator',
        '--port',
        '0',
        '--page-size',
        String(pageSize),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const info = await new Promise<EmulatorInfo>((resolvePromise, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.once('line', (line) => resolvePromise(JSON.parse(line) as EmulatorInfo));
      child.once('exit', (code) => reject(new Error(`the emulator exited with ${code}`)));
    });
    return new EmulatorProcess(info, child);
  }

  ctl<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    return new Promise((resolvePromise, reject) => {
      const req = request(
        `${this.info.url}/_ctl${path}`,
        { method, agent: this.agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if ((res.statusCode ?? 500) >= 300)
              reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
            else resolvePromise((text ? JSON.parse(text) : null) as T);
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Runs `ops` control calls with a few in flight. */
  async ctlMany(ops: (() => Promise<unknown>)[], concurrency = 8): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < ops.length) await ops[next++]!();
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** Graph requests (and token requests) the emulator saw since the last call, by kind. */
  async takeRequests(): Promise<RequestCounts> {
    const list = await this.ctl<{ path: string }[]>('GET', '/requests');
    await this.ctl('DELETE', '/requests');
    const paths = list.map((r) => decodeURIComponent(r.path));
    const graph = paths.filter((p) => p.startsWith('/v1.0/'));
    const users = graph.filter((p) => p.startsWith('/v1.0/users/delta'));
    return {
      total: graph.length + paths.filter((p) => p.includes('/oauth2/')).length,
      token: paths.filter((p) => p.includes('/oauth2/')).length,
      usersPages: users.filter((p) => !p.includes('$filter') && !p.includes('$deltatoken=latest')).length,
      usersById: users.filter((p) => p.includes('$filter')).length,
      usersLatest: users.filter((p) => p.includes('$deltatoken=latest')).length,
      assignments: graph.filter((p) => p.includes('/appRoleAssignedTo')).length,
      other: graph.filter((p) => !p.startsWith('/v1.0/users/delta') && !p.includes('/appRoleAssignedTo'))
        .length,
    };
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

export interface RequestCounts {
  /** Everything, the token request included. */
  total: number;
  token: number;
  /** users/delta pages of the whole tenant (or of a deltaLink). */
  usersPages: number;
  /** users/delta with `$filter=id eq …` (reads by id). */
  usersById: number;
  usersLatest: number;
  assignments: number;
  other: number;
}

export interface Timed {
  wallMs: number;
  peakRssMb: number;
  /** user + system CPU seconds of the child (less sensitive to a busy machine than wall time). */
  cpuS: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a child under /usr/bin/time (peak RSS), or polls /proc when it is missing. */
export function timedRun(args: string[], env: Record<string, string>): Promise<Timed> {
  const dir = mkdtempSync(join(tmpdir(), 'entrasync-bench-'));
  const rssFile = join(dir, 'rss');
  const useTime = existsSync(TIME);
  const [cmd, argv] = useTime
    ? [TIME, ['-f', '%M %U %S', '-o', rssFile, process.execPath, ...args]]
    : [process.execPath, args];
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { env: { PATH: process.env.PATH ?? '', ...env }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let polledKb = 0;
    const poll = useTime
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) polledKb = Math.max(polledKb, Number(m[1]));
          } catch {
            /* gone */
          }
        }, 20);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallMs = performance.now() - started;
      if (poll) clearInterval(poll);
      let kb = polledKb;
      let cpuS = NaN;
      if (useTime) {
        const [rss, user, sys] = readFileSync(rssFile, 'utf8')
          .trim()
          .split('\n')
          .pop()!
          .split(' ')
          .map(Number);
        kb = rss!;
        cpuS = user! + sys!;
      }
      rmSync(dir, { recursive: true, force: true });
      resolvePromise({ wallMs, peakRssMb: Math.round(kb / 1024), cpuS, code: code ?? 1, stdout, stderr });
    });
  });
}

export function fileSizeMb(path: string): number {
  let bytes = 0;
  for (const suffix of ['', '-wal']) if (existsSync(path + suffix)) bytes += statSync(path + suffix).size;
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

export function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

/** Reads from the entrasync store (read-only, after the process exited). */
export function readStore<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
