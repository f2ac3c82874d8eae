/**
 * The built CLI's `entrasync run` as a child process, with its JSON log lines parsed and its HTTP
 * endpoints at hand. Build first (`npm run build`): these tests exercise dist/, as the container does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI, ROOT } from '../support/harness.js';

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Daemon {
  child: ChildProcess;
  port: number;
  lines(): LogLine[];
  stderr(): string;
  /** Resolves with the first log line (from the start) that matches. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves once `count` lines match. */
  waitForCount(match: (l: LogLine) => boolean, count: number, timeoutMs?: number): Promise<LogLine[]>;
  get(path: string): Promise<{ status: number; body: string; json<T = Record<string, unknown>>(): T }>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export const cycleFinished = (l: LogLine) => l.msg === 'cycle finished' || l.msg === 'cycle failed';

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before these tests`);
}

export async function startDaemon(env: Record<string, string>): Promise<Daemon> {
  assertBuilt();
  const child = spawn(process.execPath, [CLI, 'run'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
      ENTRASYNC_HTTP_HOST: '127.0.0.1',
      ENTRASYNC_HTTP_PORT: '0',
      ENTRASYNC_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed: LogLine[] = [];
  let partial = '';
  let errText = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts.filter(Boolean)) {
      try {
        parsed.push(JSON.parse(p) as LogLine);
      } catch {
        parsed.push({ msg: p });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (chunk: Buffer) => (errText += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let dead = false;
  void exited.then(() => {
    dead = true;
    for (const w of waiters) w();
  });

  const waitForCount = (match: (l: LogLine) => boolean, count: number, timeoutMs = 20_000) =>
    new Promise<LogLine[]>((resolve, reject) => {
      const check = () => {
        const hits = parsed.filter(match);
        if (hits.length >= count) {
          done();
          resolve(hits);
        } else if (dead) {
          done();
          reject(new Error(`daemon exited before the expected log line; stderr: ${errText}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out waiting for ${count} matching log lines; last: ${tail()}; stderr: ${errText.slice(-500)}`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const tail = () =>
    parsed
      .slice(-5)
      .map((l) => l.msg)
      .join(' | ');

  const started = (await waitForCount((l) => l.msg === 'daemon started', 1))[0]!;
  const port = Number(started.port);
  const daemon: Daemon = {
    child,
    port,
    lines: () => parsed,
    stderr: () => errText,
    waitFor: async (match, timeoutMs) => (await waitForCount(match, 1, timeoutMs))[0]!,
    waitForCount,
    async get(path) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      const body = await res.text();
      return { status: res.status, body, json: <T>() => JSON.parse(body) as T };
    },
    async stop(signal = 'SIGTERM') {
      if (!dead) child.kill(signal);
      return exited;
    },
    exited,
  };
  return daemon;
}

/** Reads one sample of a Prometheus text exposition, e.g. metric(text, 'entrasync_users', {state: 'active'}). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean).sort();
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(m[3]);
  }
  return undefined;
}

/** A one-shot CLI command as a child process, its stdout watched while it runs. */
export function spawnCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', r));
  return {
    child,
    exit,
    output: () => ({ stdout, stderr }),
    /** Resolves when stdout contains `text`; rejects if the command ends first. */
    waitForOutput: (text: string) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (stdout.includes(text)) {
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        void exit.then(() => {
          check();
          reject(new Error(`\`${args.join(' ')}\` ended without printing ${text}: ${stdout}${stderr}`));
        });
        check();
      }),
  };
}
