import { ConfigError, shown } from './errors.js';

type Env = Record<string, string | undefined>;

/**
 * Microsoft's token authority and Graph hosts of the public, US Government (L4 and L5/DoD) and China
 * (21Vianet) clouds (reference graph-semantics.md §5.4, from Microsoft's national cloud deployments
 * page). The client secret goes to the authority and the bearer token to Graph, so no other host is
 * used unless the operator says so.
 */
export const AUTHORITY_HOSTS = [
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
];
export const GRAPH_HOSTS = [
  'graph.microsoft.com',
  'graph.microsoft.us',
  'dod-graph.microsoft.us',
  'microsoftgraph.chinacloudapi.cn',
];

export const ALLOW_CUSTOM = 'ENTRASYNC_ALLOW_CUSTOM_AUTHORITY';

/** The emulator and test doubles: the WHATWG URL parser already normalised 127.1 and friends. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

export function allowCustomHosts(env: Env): boolean {
  const raw = env[ALLOW_CUSTOM]?.trim().toLowerCase();
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(ALLOW_CUSTOM, `expected 1 or 0, got ${shown(raw)}`);
}

/** Throws unless `url`'s host is one of `known`, a loopback address, or custom hosts are allowed. */
export function checkHost(name: string, url: URL, known: readonly string[], allowCustom: boolean): void {
  const host = url.hostname.toLowerCase();
  if (allowCustom || known.includes(host) || isLoopback(host)) return;
  throw new ConfigError(
    name,
    `${shown(host)} is not a Microsoft host (${known.join(', ')}) nor a loopback address; ` +
      `set ${ALLOW_CUSTOM}=1 to use another host on purpose`,
  );
}
