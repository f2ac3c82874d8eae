import { ConfigError, loadConfig, loadLocalConfig, type Config, type LocalConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { createRuntime, type Runtime } from '../runtime.js';
import { Store } from '../store/index.js';
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

export async function withRuntime<T>(
  fn: (rt: Runtime) => Promise<T>,
  logTo: 'stdout' | 'stderr' = 'stdout',
): Promise<T> {
  const config = loadConfig();
  const log = logTo === 'stdout' ? createLogger(config.logLevel) : stderrLogger(config.logLevel);
  const rt = createRuntime(config, log);
  try {
    return await fn(rt);
  } finally {
    rt.close();
  }
}

/** For commands that only read the store: no credentials needed. */
export function withStore<T>(fn: (store: Store, config: LocalConfig) => T): T {
  const config = loadLocalConfig();
  const store = Store.open(config.dbPath);
  try {
    return fn(store, config);
  } finally {
    store.close();
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
