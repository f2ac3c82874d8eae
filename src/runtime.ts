import { createTokenProvider, type TokenProviderOptions } from './auth/index.js';
import type { Config } from './config/index.js';
import { ConfigError } from './config/index.js';
import { GraphApi } from './graph/api.js';
import { createGraphClient, type GraphStats } from './graph/client.js';
import type { Logger } from './log.js';
import { compileMappings, MappingConfigError, type CompiledMappings } from './mapping/index.js';
import type { UserStore } from './store/index.js';
import { openUserStore, type OpenStoreOptions } from './store/open.js';

export interface Runtime {
  config: Config;
  log: Logger;
  store: UserStore;
  api: GraphApi;
  mappings: CompiledMappings;
  close(): Promise<void>;
}

/** Mapping problems are configuration errors: they name the mapping and exit 2. */
export function compileConfiguredMappings(config: Pick<Config, 'configFile' | 'settings'>): CompiledMappings {
  try {
    return compileMappings(config.settings.mappings, { graphSources: true });
  } catch (error) {
    if (error instanceof MappingConfigError) {
      throw new ConfigError(
        `${config.configFile}: mappings[${error.mappingIndex}].${error.field}`,
        error.message,
      );
    }
    throw error;
  }
}

export function createGraphApi(config: Config, log: Logger, tokenOptions?: TokenProviderOptions): GraphApi {
  const stats: GraphStats = { requests: 0, throttled: 0, tokenRefreshes: 0 };
  const tokens = createTokenProvider(config, log, tokenOptions);
  const client = createGraphClient({ graphUrl: config.graphUrl, tokens, log, stats });
  const { maxAttempts, retryBaseDelayMs, retryMaxDelayMs } = config.settings.graph;
  return new GraphApi(
    client,
    { maxAttempts, baseDelayMs: retryBaseDelayMs, maxDelayMs: retryMaxDelayMs },
    log,
    stats,
    tokens,
  );
}

/** Wires the stages for one process: validated config in, ready parts out. */
export async function createRuntime(
  config: Config,
  log: Logger,
  storeOptions: OpenStoreOptions = {},
): Promise<Runtime> {
  const mappings = compileConfiguredMappings(config);
  const store = await openUserStore(config.dbPath, {
    ...storeOptions,
    busyTimeoutMs: config.settings.sync.busyTimeoutSeconds * 1000,
  });
  return wireRuntime(config, log, store, mappings);
}

/** The runtime around an open store. */
export function wireRuntime(
  config: Config,
  log: Logger,
  store: UserStore,
  mappings = compileConfiguredMappings(config),
): Runtime {
  // Patterns that run in linear time here but could hit Entra's regex timeout there.
  for (const warning of mappings.warnings) log.warn({ warning }, 'mapping warning');
  // The application's write transactions make writes wait; a long wait is said once, without data.
  store.lockWaits.listener = {
    waiting: (operation, waitedMs) =>
      log.warn(
        { operation, waitedMs, busyTimeoutSeconds: config.settings.sync.busyTimeoutSeconds },
        "waiting for the store's write lock",
      ),
    ended: (operation, waitedMs, outcome) =>
      log.info({ operation, waitedMs, outcome }, "store's write lock wait ended"),
  };
  const api = createGraphApi(config, log);
  return { config, log, store, api, mappings, close: () => store.close() };
}
