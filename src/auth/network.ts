import {
  AuthError,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import { tlsErrorFor, type TlsError } from './tls.js';

/** msal's errorCode for a certificate failure this client reported. */
export const TLS_ERROR_CODE = 'tls_error';
/** msal's errorCode for any other failed request. */
export const NETWORK_ERROR_CODE = 'network_error';

export interface TlsAwareNetworkClient extends INetworkModule {
  /**
   * The last certificate failure, in full. msal rebuilds the errors a network client throws and keeps
   * only their code, so the message naming the cause and the fix is read from here.
   */
  lastTlsError(): TlsError | undefined;
  /** The last other network failure, with its cause's code (ECONNREFUSED, …), for the same reason. */
  lastNetworkFailure(): string | undefined;
}

/**
 * msal-node's own fetch client, less one loss: a certificate failure is reported as such (not retried),
 * and other network failures keep their cause's code (ECONNREFUSED, …).
 */
export function tlsAwareNetworkClient(): TlsAwareNetworkClient {
  let lastTls: TlsError | undefined;
  let lastFailure: string | undefined;
  const send = async <T>(
    url: string,
    method: 'GET' | 'POST',
    options: NetworkRequestOptions = {},
    timeoutMs?: number,
  ): Promise<NetworkResponse<T>> => {
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: new Headers(options.headers ?? {}),
        ...(method === 'POST' ? { body: options.body ?? '' } : {}),
        ...(timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
      });
    } catch (error) {
      const tls = tlsErrorFor(error, url);
      if (tls) {
        lastTls = tls;
        throw new AuthError(TLS_ERROR_CODE, tls.message);
      }
      // As msal's own client reports it (retried by auth/), with the cause's code it would drop.
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : cause?.message;
      const detail = `${(error as Error).message}${typeof why === 'string' && why ? ` (${why})` : ''}`;
      lastFailure = `Network request failed: ${detail}`;
      throw new AuthError(NETWORK_ERROR_CODE, lastFailure);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    let body: T;
    try {
      body = (await response.json()) as T;
    } catch (error) {
      throw new AuthError('token_parsing_error', `Failed to parse response: ${(error as Error).message}`);
    }
    return { headers, body, status: response.status };
  };
  return {
    sendGetRequestAsync: (url, options, timeout) => send(url, 'GET', options, timeout),
    sendPostRequestAsync: (url, options) => send(url, 'POST', options),
    lastTlsError: () => lastTls,
    lastNetworkFailure: () => lastFailure,
  };
}
