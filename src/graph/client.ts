import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  RedirectHandler,
  TelemetryHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import type { TokenProvider } from '../auth/index.js';
import { tlsErrorFor } from '../auth/tls.js';
import type { Logger } from '../log.js';

export interface GraphStats {
  requests: number;
  throttled: number;
  /** Fresh tokens requested because Graph rejected the one it was sent. */
  tokenRefreshes: number;
}

/**
 * Counts every request that goes on the wire, retries included, and reports throttling.
 */
class ObserverHandler implements Middleware {
  private next?: Middleware;
  constructor(
    private readonly stats: GraphStats,
    private readonly log: Logger,
  ) {}
  setNext(next: Middleware) {
    this.next = next;
  }
  async execute(context: Context) {
    this.stats.requests++;
    try {
      await this.next!.execute(context);
    } catch (error) {
      // The SDK keeps only the message of what fetch threw: name a certificate failure while it can.
      throw tlsErrorFor(error, urlOf(context.request)) ?? error;
    }
    const status = context.response?.status ?? 0;
    if (status === 429 || status === 503 || status === 504) {
      this.stats.throttled++;
      const retryAfter = context.response?.headers.get('retry-after') ?? null;
      this.log.warn({ status, retryAfter, path: pathOf(context.request) }, 'graph throttled or unavailable');
    }
  }
}

const urlOf = (request: Context['request']): string => (typeof request === 'string' ? request : request.url);

function pathOf(request: Context['request']): string {
  const url = urlOf(request);
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

export interface GraphClientOptions {
  graphUrl: string;
  tokens: TokenProvider;
  log: Logger;
  stats: GraphStats;
}

/**
 * The real Microsoft Graph client with the default middleware chain, less its RetryHandler: that one
 * gives up after 3 retries and never retries dropped connections, so GraphApi does all retrying,
 * honouring Retry-After, with one backoff policy for every failure.
 */
export function createGraphClient(options: GraphClientOptions): Client {
  const chain: Middleware[] = [
    new AuthenticationHandler({ getAccessToken: () => options.tokens.getToken() }),
    new RedirectHandler(),
    new ObserverHandler(options.stats, options.log),
    new TelemetryHandler(),
    new HTTPMessageHandler(),
  ];
  return Client.initWithMiddleware({
    baseUrl: options.graphUrl,
    defaultVersion: 'v1.0',
    // Without this the SDK strips the token for any host it does not know (sovereign clouds, emulator).
    customHosts: new Set([new URL(options.graphUrl).hostname]),
    middleware: chain,
  });
}
