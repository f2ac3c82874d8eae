import { ConfigError, loadConfig, loadLocalConfig, type Config, type LocalConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { createRuntime, type Runtime } from '../runtime.js';
import type { Store, UserStore } from '../store/index.js';
import { openUserStore } from '../store/open.js';
import { redactUrl } from '../store/postgres/connection.js';
import { ExpressionError, MappingConfigError } from '../mapping/index.js';

/** Exit codes: 0 success, 1 the command failed, 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_CONFIG = 2;

export class CommandFailed extends Error {}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Commands whose stdout is data log to stderr, so their output stays parseable. */
export function stderrLogger(level: Config['logLevel']): Logger {
  return createLogger(level === 'info' ? 'warn' : level, process.stderr);
}

export interface RuntimeOptions {
  /** The command needs an existing store: a mistyped ENTRASYNC_DB must not create an empty one. */
  storeMustExist?: boolean;
  /**
   * A command that writes nothing lasting (a dry run, a connection test) uses an empty store in memory
   * when there is none yet: it must not create one.
   */
  memoryIfMissing?: boolean;
}

export async function withRuntime<T>(
  fn: (rt: Runtime) => Promise<T>,
  logTo: 'stdout' | 'stderr' = 'stdout',
  options: RuntimeOptions = {},
): Promise<T> {
  const config = loadConfig();
  const log = logTo === 'stdout' ? createLogger(config.logLevel) : stderrLogger(config.logLevel);
  const rt = await createRuntime(config, log, {
    mustExist: options.storeMustExist,
    memoryIfMissing: options.memoryIfMissing,
  });
  if (options.memoryIfMissing && rt.store.kind === 'sqlite' && (rt.store as Store).db.memory)
    log.warn(
      { db: redactUrl(config.dbPath) },
      'no store yet: using an empty one in memory, nothing is created',
    );
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/**
 * For commands on the store alone: no credentials needed. The store must exist; it is opened
 * read-only unless the command writes.
 */
export async function withStore<T>(
  fn: (store: UserStore, config: LocalConfig) => Promise<T> | T,
  access: 'read' | 'write' = 'read',
): Promise<T> {
  const config = loadLocalConfig();
  const store = await openUserStore(config.dbPath, { mustExist: true, readonly: access === 'read' });
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

/** A bad expression given on the command line is a usage error, like a bad setting. */
export function exitCodeFor(error: unknown): number {
  if (
    error instanceof ConfigError ||
    error instanceof MappingConfigError ||
    error instanceof ExpressionError
  ) {
    return EXIT_CONFIG;
  }
  return EXIT_FAILED;
}
