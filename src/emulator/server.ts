import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { aadErrorBody, graphError, graphErrorBody, HttpError } from './errors.js';
import type { TenantControl } from './control.js';
import { handleControl } from './control-http.js';
import { handleGraph } from './graph.js';
import { sendJson, type Ctx, type EmulatorCore } from './http.js';
import { handleLogin } from './login.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type RawSocket = Socket & { _parent?: Socket };

/** TLS sockets cannot send RST themselves; the TCP socket underneath can. Else a plain destroy. */
function resetSocket(socket: Socket): void {
  try {
    const raw = (socket as RawSocket)._parent;
    if (raw?.resetAndDestroy) {
      raw.resetAndDestroy();
      socket.destroy();
      return;
    }
  } catch {
    // fall back below
  }
  socket.destroy();
}

const THROTTLE_CODES: Record<number, [string, string]> = {
  429: ['TooManyRequests', 'Too many requests. Please retry after the time given in the Retry-After header.'],
  503: ['serviceNotAvailable', 'The service is temporarily unavailable. Please retry later.'],
  504: ['GatewayTimeout', 'The gateway did not receive a timely response from the upstream service.'],
};

/** The request pipeline: log, latency, injected faults, then login / Graph / control routes. */
export function createRequestHandler(
  core: EmulatorCore,
  control: TenantControl,
  info: () => Record<string, unknown>,
) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', core.origin);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const requestId = randomUUID();
    const clientRequestId = (req.headers['client-request-id'] as string | undefined) ?? requestId;
    const ctx: Ctx = { core, req, res, url, path, requestId };
    res.setHeader('request-id', requestId);
    res.setHeader('client-request-id', clientRequestId);
    res.setHeader(
      'x-ms-ags-diagnostic',
      '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"entrasync-emulator"}}',
    );
    res.on('close', () =>
      core.log.add({
        method: req.method ?? '',
        path: req.url ?? '',
        status: res.headersSent ? res.statusCode : 0,
      }),
    );

    const isControl = path === '/_ctl' || path.startsWith('/_ctl/');
    try {
      if (!isControl) {
        const delay = core.latencyMs + core.faults.latencyFor(path);
        if (delay > 0) await sleep(delay);
        const fault = core.faults.decide(path);
        if (fault?.kind === 'reset') {
          // An abrupt reset (RST), not a clean close: what clients see when a proxy drops them.
          resetSocket(req.socket);
          return;
        }
        if (fault?.kind === 'throttle') {
          const [code, message] = THROTTLE_CODES[fault.status] ?? ['UnknownError', 'Error'];
          const headers: Record<string, string> = {};
          if (fault.retryAfter !== null) headers['Retry-After'] = String(fault.retryAfter);
          if (fault.status === 429) {
            headers['x-ms-throttle-scope'] =
              `Tenant_Application/ReadWrite/${core.identity.clientId}/${core.identity.tenantId}`;
            headers['x-ms-throttle-information'] = 'ResourceUnitLimitExceeded';
          }
          throw graphError(fault.status, code, message, headers);
        }
        if (fault?.kind === 'malformed') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"@odata.context":"truncated","value":[{"id":');
          return;
        }
      }
      if (isControl) await handleControl(ctx, control, info);
      else if (path === '/v1.0' || path.startsWith('/v1.0/')) await handleGraph(ctx);
      else if (!(await handleLogin(ctx)))
        throw graphError(404, 'Request_ResourceNotFound', `No route for '${path}'.`);
    } catch (err) {
      if (res.headersSent || res.destroyed) return;
      if (err instanceof HttpError) {
        const body = err.aad
          ? aadErrorBody(err, clientRequestId)
          : graphErrorBody(err.code, err.message, requestId, clientRequestId);
        sendJson(ctx, err.status, body, err.headers);
      } else {
        const message = err instanceof Error ? err.message : String(err);
        sendJson(ctx, 500, graphErrorBody('UnknownError', message, requestId, clientRequestId));
      }
    }
  };
}
