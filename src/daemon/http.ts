import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';

export interface Endpoints {
  readyz(): Promise<{ ready: boolean }>;
  metrics(): Promise<{ contentType: string; body: string }>;
  status(): Promise<unknown>;
  /** The status page's HTML and its headers (the Content-Security-Policy among them). */
  page(): Promise<{ headers: Record<string, string>; body: string }>;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  type = 'application/json',
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, `${JSON.stringify(value, null, 2)}\n`);

/**
 * / (the status page, for a person), /healthz (the process answers), /readyz (the sync works),
 * /metrics (Prometheus), /status (the `status --json` document). Read-only and without personal data, so it needs no authentication;
 * still, expose it to the cluster's monitoring only.
 */
export async function startHttpServer(
  host: string,
  port: number,
  endpoints: Endpoints,
  log: Logger,
): Promise<HttpServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { error: 'method not allowed' });
    }
    switch (path) {
      case '/':
      case '/index.html': {
        const page = await endpoints.page();
        return send(res, 200, page.body, page.headers['content-type'], page.headers);
      }
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const r = await endpoints.readyz();
        return json(res, r.ready ? 200 : 503, r);
      }
      case '/metrics': {
        const m = await endpoints.metrics();
        return send(res, 200, m.body, m.contentType);
      }
      case '/status':
        return json(res, 200, await endpoints.status());
      default:
        return json(res, 404, {
          error: 'not found',
          endpoints: ['/', '/healthz', '/readyz', '/metrics', '/status'],
        });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      log.error({ error: error.message, url: req.url }, 'http request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Probes and scrapers keep connections open; these bound what an idle or slow client holds.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
