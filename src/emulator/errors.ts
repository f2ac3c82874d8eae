import { randomUUID } from 'node:crypto';

/**
 * A failed request. Graph errors and Entra (AADSTS) errors have different JSON shapes; the server
 * renders whichever this carries, so route code only throws.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly aad?: { errorCodes: number[] },
  ) {
    super(message);
  }
}

export function graphError(status: number, code: string, message: string, headers?: Record<string, string>) {
  return new HttpError(status, code, message, headers);
}

export function graphErrorBody(code: string, message: string, requestId: string, clientRequestId?: string) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': requestId,
        'client-request-id': clientRequestId ?? requestId,
      },
    },
  };
}

/** Entra token-endpoint error: `error` is the OAuth code, the AADSTS number goes into the description. */
export function aadError(status: number, error: string, aadsts: number, text: string) {
  return new HttpError(status, error, `AADSTS${aadsts}: ${text}`, {}, { errorCodes: [aadsts] });
}

export function aadErrorBody(err: HttpError, correlationId: string) {
  const traceId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.(\d{3})Z$/, '.$1Z');
  return {
    error: err.code,
    error_description: `${err.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: err.aad?.errorCodes ?? [],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${err.aad?.errorCodes[0] ?? ''}`,
  };
}

export const notFound = (what: string) =>
  graphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${what}' does not exist or one of its queried reference-property objects are not present.`,
  );

export const badRequest = (message: string, code = 'BadRequest') => graphError(400, code, message);
