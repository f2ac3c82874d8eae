import { readFile } from 'node:fs/promises';
import {
  ConfidentialClientApplication,
  LogLevel,
  ManagedIdentityApplication,
  type Configuration,
} from '@azure/msal-node';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { backoffDelay, sleep } from '../backoff.js';
import {
  NETWORK_ERROR_CODE,
  TLS_ERROR_CODE,
  tlsAwareNetworkClient,
  type TlsAwareNetworkClient,
} from './network.js';
import { TlsError } from './tls.js';

export { TlsError };

export interface TokenProvider {
  /**
   * A token for Graph, from msal's cache while it is valid. `fresh` skips the cache: for a token Graph
   * rejected (revoked, a signing-key rollover, clock skew) although it has not expired.
   */
  getToken(options?: { fresh?: boolean }): Promise<string>;
}

/** A credential the directory refused: retrying cannot help, the operator must fix it. */
export class CredentialError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CredentialError';
  }
}

/**
 * The token endpoint kept failing (network, 5xx, throttling) through every retry: an outage that a
 * later attempt may not meet, unlike a refused credential.
 */
export class TokenEndpointUnavailableError extends CredentialError {
  constructor(message: string, code: string) {
    super(message, code);
    this.name = 'TokenEndpointUnavailableError';
  }
}

interface MsalishError {
  errorCode?: string;
  errorMessage?: string;
  message?: string;
}

/** AADSTS codes and OAuth errors that mean the request itself is wrong, so retrying is pointless. */
const PERMANENT = [
  'invalid_client',
  'unauthorized_client',
  'invalid_request',
  'invalid_scope',
  'invalid_grant',
  'invalid_resource',
];

function describe(error: unknown): { code: string; message: string; permanent: boolean } {
  const e = error as MsalishError;
  const code = e.errorCode ?? 'unknown';
  const text = `${e.errorMessage ?? ''} ${e.message ?? ''}`;
  const aadsts = text.match(/AADSTS\d+/)?.[0];
  const permanent =
    PERMANENT.includes(code) || /AADSTS(7000215|700027|700016|90002|7000222|500011)/.test(text);
  const message = aadsts
    ? `${code} (${aadsts}): ${firstLine(text, aadsts)}`
    : `${code}: ${e.message ?? 'token request failed'}`;
  return { code, message, permanent };
}

function firstLine(text: string, aadsts: string): string {
  const start = text.indexOf(aadsts);
  return text
    .slice(start)
    .split(/\r?\n|\\r\\n| - /)[0]!
    .trim();
}

function msalSystem(log: Logger): Configuration['system'] {
  return {
    loggerOptions: {
      logLevel: LogLevel.Error,
      piiLoggingEnabled: false,
      loggerCallback: (_level, message) => log.warn({ msal: message }, 'msal'),
    },
  };
}

function confidentialClient(
  config: Config,
  log: Logger,
  network: TlsAwareNetworkClient,
): ConfidentialClientApplication {
  const host = config.authorityHost;
  const tenant = config.tenantId;
  // Fixed metadata: msal then makes exactly one request per token (the POST), for Microsoft's
  // clouds and for any other host (an emulator, a sovereign cloud) alike.
  const auth: Configuration['auth'] = {
    clientId: config.clientId,
    authority: `${host}/${tenant}`,
    knownAuthorities: [new URL(host).host],
    authorityMetadata: JSON.stringify({
      token_endpoint: `${host}/${tenant}/oauth2/v2.0/token`,
      issuer: `${host}/${tenant}/v2.0`,
      authorization_endpoint: `${host}/${tenant}/oauth2/v2.0/authorize`,
      jwks_uri: `${host}/${tenant}/discovery/v2.0/keys`,
      end_session_endpoint: `${host}/${tenant}/oauth2/v2.0/logout`,
    }),
  };
  const cred = config.credential;
  if (cred.kind === 'secret') auth.clientSecret = cred.secret;
  else if (cred.kind === 'certificate') {
    auth.clientCertificate = {
      thumbprintSha256: cred.thumbprintSha256,
      privateKey: cred.privateKey,
      x5c: cred.certificate,
    };
  } else if (cred.kind === 'workload-identity') {
    // The kubelet rotates the projected token: read it for every token request.
    const file = cred.tokenFile;
    auth.clientAssertion = async () => (await readFile(file, 'utf8')).trim();
  }
  return new ConfidentialClientApplication({
    auth,
    system: { ...msalSystem(log), networkClient: network },
  });
}

/**
 * One msal instance (it caches the token) until a request fails: after a 429/5xx msal-node refuses
 * every request of that instance for Retry-After, or 60 s without it, and does not say for how long.
 * A fresh instance lets our own backoff set the pace.
 */
function renewedOnFailure<App>(
  create: () => App,
  request: (app: App, fresh: boolean) => Promise<string | undefined>,
) {
  let app = create();
  return async (fresh: boolean) => {
    try {
      return await request(app, fresh);
    } catch (error) {
      app = create();
      throw error;
    }
  };
}

export interface TokenProviderOptions {
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Tokens for Graph. msal-node does not retry token requests itself, so transient failures (network,
 * 5xx, throttling) are retried here with exponential backoff; a refused credential is not.
 */
export function createTokenProvider(
  config: Config,
  log: Logger,
  options: TokenProviderOptions = {},
): TokenProvider {
  const maxAttempts = options.maxAttempts ?? config.settings.graph.maxAttempts;
  const base = options.baseDelayMs ?? config.settings.graph.retryBaseDelayMs;
  const cap = options.maxDelayMs ?? config.settings.graph.retryMaxDelayMs;
  const scope = `${config.graphUrl}/.default`;
  const network = tlsAwareNetworkClient();
  let acquire: (fresh: boolean) => Promise<string | undefined>;
  if (config.credential.kind === 'managed-identity') {
    const clientId = config.credential.clientId;
    acquire = renewedOnFailure(
      () =>
        new ManagedIdentityApplication({
          ...(clientId ? { managedIdentityIdParams: { userAssignedClientId: clientId } } : {}),
          system: msalSystem(log),
        }),
      async (app, fresh) =>
        (await app.acquireToken({ resource: config.graphUrl, forceRefresh: fresh })).accessToken,
    );
  } else {
    acquire = renewedOnFailure(
      () => confidentialClient(config, log, network),
      // A fresh token is stored in msal's cache too, so later requests are served the new one.
      async (app, fresh) =>
        (await app.acquireTokenByClientCredential({ scopes: [scope], skipCache: fresh }))?.accessToken,
    );
  }
  // Requests made at the same time (a cycle reads groups and assignments together) share one token
  // request: msal caches the token, but only once a request for it has come back. Likewise requests
  // rejected together share one fresh token, and while it is on its way nobody is handed the old one.
  let inFlight: Promise<string> | null = null;
  let inFlightFresh: Promise<string> | null = null;
  return {
    getToken(options = {}) {
      if (options.fresh) {
        inFlightFresh ??= requestToken(true).finally(() => {
          inFlightFresh = null;
        });
        return inFlightFresh;
      }
      if (inFlightFresh) return inFlightFresh;
      inFlight ??= requestToken(false).finally(() => {
        inFlight = null;
      });
      return inFlight;
    },
  };

  async function requestToken(fresh: boolean): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        const token = await acquire(fresh);
        if (!token) throw new CredentialError('the token endpoint returned no access token', 'no_token');
        return token;
      } catch (error) {
        if (error instanceof CredentialError) throw error;
        const described = describe(error);
        const { code, permanent } = described;
        // msal rebuilds a network client's error from its code alone: the detail is kept aside.
        const failure = code === NETWORK_ERROR_CODE ? network.lastNetworkFailure() : undefined;
        const message = failure ? `${code}: ${failure}` : described.message;
        // The same certificate fails the same way on every attempt.
        if (code === TLS_ERROR_CODE) throw network.lastTlsError() ?? new TlsError(message, code);
        if (permanent) throw new CredentialError(`the directory refused the credential: ${message}`, code);
        if (attempt >= maxAttempts) {
          throw new TokenEndpointUnavailableError(`token endpoint failed ${attempt} times: ${message}`, code);
        }
        const delay = backoffDelay(attempt, base, cap);
        log.warn({ attempt, delayMs: delay, error: message }, 'token request failed, retrying');
        await sleep(delay);
      }
    }
  }
}
