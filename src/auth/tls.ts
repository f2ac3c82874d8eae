/**
 * TLS certificate failures. They are not transient: the same certificate fails the same way on every
 * retry, so they fail at once, naming the cause and what fixes it (usually NODE_EXTRA_CA_CERTS).
 */

type Fix = 'trust' | 'host' | 'clock' | 'server';

/** Node's (OpenSSL's) codes for a certificate that cannot be verified: what is wrong, what fixes it. */
const CERTIFICATE_CODES: Record<string, [cause: string, fix: Fix]> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: ['is signed by a CA this process does not trust', 'trust'],
  UNABLE_TO_GET_ISSUER_CERT: ['is signed by a CA this process does not trust', 'trust'],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: ['is signed by a CA this process does not trust', 'trust'],
  SELF_SIGNED_CERT_IN_CHAIN: ['is signed by a self-signed CA this process does not trust', 'trust'],
  DEPTH_ZERO_SELF_SIGNED_CERT: ['is self-signed and not trusted by this process', 'trust'],
  CERT_UNTRUSTED: ['is not trusted by this process', 'trust'],
  ERR_TLS_CERT_ALTNAME_INVALID: ['is not issued for this host name', 'host'],
  CERT_HAS_EXPIRED: ['has expired', 'clock'],
  CERT_NOT_YET_VALID: ['is not valid yet', 'clock'],
  CERT_SIGNATURE_FAILURE: ['has an invalid signature', 'server'],
  CERT_REVOKED: ['has been revoked', 'server'],
};

const FIXES: Record<Fix, (env: Record<string, string | undefined>) => string> = {
  trust: (env) => {
    const extra = env.NODE_EXTRA_CA_CERTS?.trim();
    const now = extra
      ? `NODE_EXTRA_CA_CERTS (${extra}) does not hold the CA that signed it`
      : 'NODE_EXTRA_CA_CERTS is not set';
    return (
      `${now}. Set NODE_EXTRA_CA_CERTS to the PEM file of that CA (a TLS-inspecting proxy’s CA; for the ` +
      'emulator, the caFile `entrasync emulator` prints) before the process starts'
    );
  },
  host: () =>
    'check ENTRASYNC_AUTHORITY_HOST and ENTRASYNC_GRAPH_URL: the host must be one the certificate names',
  clock: () =>
    'check this machine’s clock; a TLS-inspecting proxy must present a current certificate (its CA goes in NODE_EXTRA_CA_CERTS)',
  server: () =>
    'the server or a proxy in between presents a bad certificate (a proxy’s CA goes in NODE_EXTRA_CA_CERTS)',
};

/** A connection refused because the server's certificate could not be verified. */
export class TlsError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TlsError';
  }
}

/** The certificate code of a failed request, looked for along the error's `cause` chain. */
export function certificateFailureCode(error: unknown): string | undefined {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && e.code in CERTIFICATE_CODES) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * The error for a request to `url` that failed on its certificate, or undefined when `error` is not a
 * certificate failure. The message names the host, the cause and what fixes it.
 */
export function tlsErrorFor(
  error: unknown,
  url: string,
  env: Record<string, string | undefined> = process.env,
): TlsError | undefined {
  const code = certificateFailureCode(error);
  if (!code) return undefined;
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // Not a URL: name it as given.
  }
  const [cause, fix] = CERTIFICATE_CODES[code]!;
  return new TlsError(
    `TLS: the certificate of ${host} ${cause} (${code}); ${FIXES[fix](env)}. Not retried: it fails the same way every time`,
    code,
  );
}
