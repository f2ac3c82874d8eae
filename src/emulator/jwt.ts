import { constants, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(payload)) return undefined;
    return {
      header,
      payload,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: KeyObject,
): string {
  const input = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', ...header }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

/** Checks the signature for the algorithms msal (RS256/PS256) and common federation issuers (ES256) use. */
export function verifyJwtSignature(jwt: DecodedJwt, key: KeyObject | string): boolean {
  const k = typeof key === 'string' ? createPublicKey(key) : key;
  const data = Buffer.from(jwt.signingInput);
  try {
    switch (jwt.header.alg) {
      case 'RS256':
        return verify('sha256', data, k, jwt.signature);
      case 'PS256':
        return verify(
          'sha256',
          data,
          { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          jwt.signature,
        );
      case 'ES256':
        return verify('sha256', data, { key: k, dsaEncoding: 'ieee-p1363' }, jwt.signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
