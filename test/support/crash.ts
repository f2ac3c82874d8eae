/** The crash suites' tools: a seeded random source and a `sync` killed at a chosen point of its cycle. */
import { spawn } from 'node:child_process';
import { CLI, ROOT } from './harness.js';

/** A small linear congruential generator: the same seed gives the same kill points. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface KillOptions {
  /** The CLI command (default `sync`). */
  command?: string;
  /** The log text that starts the countdown (default the start of the cycle). */
  after?: string;
}

/**
 * Starts the command and kills it with SIGKILL `ms` after it logged `after`: whether the kill
 * interrupted the cycle, and everything the child logged.
 */
export function killDuringCycle(
  ms: number,
  env: Record<string, string>,
  { command = 'sync', after = '"cycle started"' }: KillOptions = {},
): Promise<{ killed: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, command], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let timer: NodeJS.Timeout | undefined;
    let output = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!timer && output.includes(after)) {
        timer = setTimeout(() => {
          killed = child.kill('SIGKILL');
        }, ms);
      }
    });
    // 'close', not 'exit': every line the child wrote has been read by then.
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      // A kill that landed after the cycle had finished (the process was exiting) interrupted nothing.
      resolve({ killed: killed && signal === 'SIGKILL' && !output.includes('"cycle finished"'), output });
    });
  });
}
