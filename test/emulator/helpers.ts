import { ConfidentialClientApplication, LogLevel, type Configuration } from '@azure/msal-node';
import { Client, PageIterator } from '@microsoft/microsoft-graph-client';
import type { RunningEmulator } from '../../src/emulator/index.js';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

/** msal settings from stack.md §2c: knownAuthorities with the port, plus authorityMetadata. */
export function msalAuth(emu: RunningEmulator): Configuration['auth'] {
  const host = emu.url;
  const t = emu.tenantId;
  return {
    clientId: emu.clientId,
    authority: `${host}/${t}`,
    knownAuthorities: [new URL(host).host],
    authorityMetadata: JSON.stringify({
      token_endpoint: `${host}/${t}/oauth2/v2.0/token`,
      issuer: `${host}/${t}/v2.0`,
      authorization_endpoint: `${host}/${t}/oauth2/v2.0/authorize`,
      jwks_uri: `${host}/${t}/discovery/v2.0/keys`,
      end_session_endpoint: `${host}/${t}/oauth2/v2.0/logout`,
    }),
  };
}

export const quietSystem = { loggerOptions: { logLevel: LogLevel.Error, loggerCallback: () => undefined } };

export function msalApp(emu: RunningEmulator, secret = emu.clientSecret): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: { ...msalAuth(emu), clientSecret: secret },
    system: quietSystem,
  });
}

export function graphClient(emu: RunningEmulator, app = msalApp(emu)): Client {
  return Client.initWithMiddleware({
    baseUrl: emu.url,
    customHosts: new Set(['127.0.0.1']),
    authProvider: {
      getAccessToken: async () => {
        const r = await app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
        if (!r) throw new Error('no token');
        return r.accessToken;
      },
    },
  });
}

export type Item = Record<string, unknown> & { id: string };

/** Pages a delta round to its deltaLink with the SDK's PageIterator. */
export async function deltaRound(
  client: Client,
  url: string,
  opts: { minimal?: boolean; select?: string; filter?: string } = {},
): Promise<{ items: Item[]; deltaLink: string }> {
  const headers: Record<string, string> = opts.minimal ? { Prefer: 'return=minimal' } : {};
  let req = client.api(url).headers(headers);
  if (opts.select) req = req.select(opts.select);
  if (opts.filter) req = req.filter(opts.filter);
  const first = (await req.get()) as Record<string, unknown>;
  const items: Item[] = [];
  const it = new PageIterator(
    client,
    first as never,
    (item) => {
      items.push(item as Item);
      return true;
    },
    { headers },
  );
  await it.iterate();
  const deltaLink = it.getDeltaLink();
  if (!deltaLink) throw new Error('round ended without a deltaLink');
  return { items, deltaLink };
}

/** Raw HTTPS GET with fetch (no SDK): status, headers, parsed JSON body. */
export async function rawGet(
  emu: RunningEmulator,
  pathOrUrl: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const url = pathOrUrl.startsWith('https://') ? pathOrUrl : `${emu.url}${pathOrUrl}`;
  const res = await fetch(url, { headers, redirect: 'manual' });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: res.status, headers: res.headers, body };
}

export function bearer(emu: RunningEmulator, roles?: string[]): Record<string, string> {
  return { Authorization: `Bearer ${emu.issueAccessToken(roles ? { roles } : {})}` };
}

/** Pages a whole round with raw fetch, returning every page body. */
export async function rawRound(emu: RunningEmulator, path: string, headers: Record<string, string> = {}) {
  const pages: Record<string, unknown>[] = [];
  let url: string | undefined = `${emu.url}${path}`;
  const h = { ...bearer(emu), ...headers };
  let deltaLink: string | undefined;
  while (url) {
    const r = await rawGet(emu, url, h);
    if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
    pages.push(r.body);
    const next = r.body['@odata.nextLink'] as string | undefined;
    deltaLink = r.body['@odata.deltaLink'] as string | undefined;
    if (next && deltaLink) throw new Error('page with both links');
    url = next;
  }
  const items = pages.flatMap((p) => p.value as Item[]);
  return { pages, items, deltaLink: deltaLink! };
}
