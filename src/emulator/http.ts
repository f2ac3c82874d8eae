import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest } from './errors.js';
import type { Directory } from './directory.js';
import type { DeltaTokens } from './delta-tokens.js';
import type { Faults } from './faults.js';
import type { Identity } from './identity.js';
import type { RequestLog } from './request-log.js';

/** Everything a route can reach. `origin` is known only once the server listens. */
export interface EmulatorCore {
  origin: string;
  directory: Directory;
  identity: Identity;
  tokens: DeltaTokens;
  faults: Faults;
  log: RequestLog;
  pageSize: number;
  memberPageSize: number;
  assignmentPageSize: number;
  latencyMs: number;
}

export interface Ctx {
  core: EmulatorCore;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Percent-decoded path (servicePrincipals(appId='…') arrives with %27 quotes). */
  path: string;
  requestId: string;
}

export const GRAPH_JSON =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export function sendJson(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  type = 'application/json; charset=utf-8',
): void {
  const text = JSON.stringify(body);
  ctx.res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), ...headers });
  ctx.res.end(text);
}

export function readBody(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(badRequest('Request body too large.'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw badRequest('The request body must be a JSON object.');
}
