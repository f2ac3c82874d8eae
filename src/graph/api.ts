import { GraphError, type Client } from '@microsoft/microsoft-graph-client';
import type { Logger } from '../log.js';
import { backoffDelay, sleep } from '../backoff.js';
import {
  CredentialError,
  TlsError,
  TokenEndpointUnavailableError,
  type TokenProvider,
} from '../auth/index.js';
import {
  DeltaStateLostError,
  GraphAccessError,
  GraphNotFoundError,
  GraphShapeError,
  GraphUnavailableError,
} from './errors.js';
import type { GraphStats } from './client.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface GraphPage<T = unknown> {
  value: T[];
  nextLink?: string;
  deltaLink?: string;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'EAI_AGAIN',
]);

function isNetworkError(error: unknown): boolean {
  const e = error as { message?: string; code?: string; cause?: { code?: string } };
  if (e.code && NETWORK_CODES.has(e.code)) return true;
  if (e.cause?.code && NETWORK_CODES.has(e.cause.code)) return true;
  return /fetch failed|socket hang up|other side closed|ECONNRESET/i.test(e.message ?? '');
}

function graphStatus(error: unknown): { status: number; code: string; retryAfterMs?: number } | undefined {
  if (!(error instanceof GraphError)) return undefined;
  const raw = error.headers?.get?.('retry-after');
  let retryAfterMs: number | undefined;
  if (raw) {
    const seconds = Number(raw);
    retryAfterMs = Number.isFinite(seconds) ? seconds * 1000 : Math.max(0, Date.parse(raw) - Date.now());
  }
  return { status: error.statusCode, code: error.code ?? '', retryAfterMs };
}

/**
 * Graph reads with the error handling the cycle relies on: transient failures are retried with
 * backoff (after the SDK's own Retry-After retries), lost delta state and access problems are
 * raised as their own error kinds, and nothing is ever turned into an empty answer.
 */
export class GraphApi {
  constructor(
    private readonly client: Client,
    private readonly retry: RetryPolicy,
    private readonly log: Logger,
    readonly stats: GraphStats,
    /** Where a fresh token comes from when Graph rejects one; without it a 401 is final. */
    private readonly tokens?: Pick<TokenProvider, 'getToken'>,
  ) {}

  async get(pathOrUrl: string, headers: Record<string, string> = {}): Promise<unknown> {
    let freshToken = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const body: unknown = await this.client.api(pathOrUrl).headers(headers).get();
        if (typeof body !== 'object' || body === null) {
          throw new GraphShapeError(`expected a JSON object from ${shortPath(pathOrUrl)}`);
        }
        return body;
      } catch (error) {
        const rejected = rejectedTokenCode(error);
        if (rejected && this.tokens) {
          // As the Azure SDK's bearer-token policy does: one fresh token per rejected request, then
          // the same request again. A rejection of the fresh token is final.
          if (freshToken) {
            throw new GraphAccessError(
              401,
              rejected,
              `Graph rejected even a fresh access token for ${shortPath(pathOrUrl)} (${rejected})`,
            );
          }
          freshToken = true;
          this.stats.tokenRefreshes++;
          this.log.warn(
            { path: shortPath(pathOrUrl), code: rejected },
            'Graph rejected the access token; requesting a fresh one',
          );
          await this.tokens.getToken({ fresh: true });
          attempt--; // not one of the attempts the retry policy counts
          continue;
        }
        const failure = this.classify(error, pathOrUrl);
        if (failure.final) throw failure.error;
        if (attempt >= this.retry.maxAttempts) {
          throw new GraphUnavailableError(
            `${shortPath(pathOrUrl)} failed after ${attempt} attempts: ${failure.error.message}`,
          );
        }
        const delay = Math.max(
          failure.retryAfterMs ?? 0,
          backoffDelay(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs),
        );
        this.log.warn(
          { attempt, delayMs: delay, path: shortPath(pathOrUrl), error: failure.error.message },
          'graph request failed, retrying',
        );
        await sleep(delay);
      }
    }
  }

  /**
   * Follows nextLinks; the last page carries the deltaLink. The next page is requested as soon as
   * its link is known, while the caller still works on the current one (Graph's latency overlaps the
   * caller's writes), so at most two pages are held. A failed read surfaces when the caller asks for
   * that page, exactly as without read-ahead; a caller that stops early leaves the read-ahead unused.
   */
  async *pages<T = unknown>(
    firstUrl: string,
    headers: Record<string, string> = {},
  ): AsyncGenerator<GraphPage<T>> {
    const read = (url: string): Promise<GraphPage<T>> =>
      this.get(url, headers).then((body) => toPage<T>(body as Record<string, unknown>, url));
    let pending: Promise<GraphPage<T>> | undefined = read(firstUrl);
    try {
      while (pending) {
        const page: GraphPage<T> = await pending;
        pending = page.nextLink ? read(page.nextLink) : undefined;
        // The request goes out through several promise steps (token, middleware, fetch): let them
        // run now, or they would wait until the caller's synchronous writes of this page are done.
        if (pending) await dispatched();
        yield page;
      }
    } finally {
      // Abandoned read-ahead (the caller stopped or failed): its outcome no longer matters.
      pending?.catch(() => undefined);
    }
  }

  private classify(error: unknown, path: string): { final: boolean; error: Error; retryAfterMs?: number } {
    if (error instanceof CredentialError || error instanceof TlsError) return { final: true, error };
    if (error instanceof GraphShapeError) return { final: false, error };
    if (error instanceof SyntaxError) {
      return {
        final: false,
        error: new GraphShapeError(`${shortPath(path)} answered with a body that is not JSON`),
      };
    }
    const status = graphStatus(error);
    if (status?.code === 'SyntaxError') {
      return {
        final: false,
        error: new GraphShapeError(`${shortPath(path)} answered with a body that is not JSON`),
      };
    }
    if (status && status.status <= 0) {
      // The SDK wraps failures that never produced a response; its `code` is the original error's name.
      const message = (error as Error).message;
      if (status.code === 'CredentialError')
        return { final: true, error: new CredentialError(message, 'credential') };
      if (status.code === 'TlsError') return { final: true, error: new TlsError(message, 'tls') };
      if (status.code === 'TokenEndpointUnavailableError')
        return { final: true, error: new TokenEndpointUnavailableError(message, 'unavailable') };
      if (isNetworkError(error) || status.code === 'TypeError') {
        return { final: false, error: new Error(`connection failed: ${message}`) };
      }
      return { final: true, error: new Error(`Graph request failed: ${message}`) };
    }
    if (status) {
      const { status: s, code } = status;
      const lower = code.toLowerCase();
      if (s === 410 || (s === 400 && (lower === 'syncstatenotfound' || lower === 'resyncrequired'))) {
        return { final: true, error: new DeltaStateLostError(s, code || 'Gone') };
      }
      if (s === 401 || s === 403) {
        return { final: true, error: new GraphAccessError(s, code, accessMessage(s, code, path)) };
      }
      if (s === 404) return { final: true, error: new GraphNotFoundError(shortPath(path)) };
      if (s === 429 || s >= 500) {
        return { final: false, error: new Error(`HTTP ${s} ${code}`), retryAfterMs: status.retryAfterMs };
      }
      return {
        final: true,
        error: new Error(`Graph answered HTTP ${s} ${code}: ${(error as Error).message}`),
      };
    }
    if (isNetworkError(error))
      return { final: false, error: new Error(`connection failed: ${(error as Error).message}`) };
    return { final: true, error: error instanceof Error ? error : new Error(String(error)) };
  }
}

/**
 * The code of a 401 that a fresh token may cure: Graph's InvalidAuthenticationToken covers expired,
 * revoked and signature- or lifetime-invalid tokens. Other 401s say nothing about the token itself.
 */
function rejectedTokenCode(error: unknown): string | undefined {
  const status = graphStatus(error);
  return status?.status === 401 && status.code.toLowerCase() === 'invalidauthenticationtoken'
    ? status.code
    : undefined;
}

function accessMessage(status: number, code: string, path: string): string {
  const p = shortPath(path);
  const permission = p.includes('/groups')
    ? 'GroupMember.Read.All'
    : p.includes('/servicePrincipals')
      ? 'Application.Read.All'
      : 'User.Read.All';
  if (status === 403) {
    return `Graph denied ${p} (${code}): the application needs the ${permission} application permission with admin consent`;
  }
  return `Graph rejected the access token for ${p} (${code})`;
}

/** Resolves after every pending promise step has run (the event loop's next check phase). */
export const dispatched = () => new Promise<void>((resolve) => setImmediate(resolve));

function toPage<T>(body: Record<string, unknown>, url: string): GraphPage<T> {
  if (!Array.isArray(body.value)) {
    throw new GraphShapeError(`a page from ${shortPath(url)} has no "value" array`);
  }
  const nextLink = body['@odata.nextLink'];
  const deltaLink = body['@odata.deltaLink'];
  if (nextLink !== undefined && typeof nextLink !== 'string')
    throw new GraphShapeError('@odata.nextLink is not a string');
  if (deltaLink !== undefined && typeof deltaLink !== 'string') {
    throw new GraphShapeError('@odata.deltaLink is not a string');
  }
  return { value: body.value as T[], nextLink, deltaLink };
}

/** A path for logs: no query string, so no tokens or filters leak into log lines. */
export function shortPath(pathOrUrl: string): string {
  try {
    return new URL(pathOrUrl).pathname;
  } catch {
    return pathOrUrl.split('?')[0]!;
  }
}
