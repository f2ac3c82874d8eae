/**
 * Configuration hardening, through the built CLI as a child process against the emulator: rejected
 * values that could be secrets are not echoed, the tenant has a tenant's shape, the authority and
 * Graph hosts are Microsoft's or loopback unless explicitly allowed, and a private key that does not
 * parse is a configuration error. In every rejected case nothing was sent anywhere.
 */
import { createServer, type Server } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { generateTlsMaterial } from '../../src/emulator/tls.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { emulatorEnv, runCli, tempDir, writeSettings } from '../support/harness.js';

let emu: RunningEmulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startTestEmulator();
  const u = emu.tenant.createUser({ userPrincipalName: 'cfg@contoso.com', accountEnabled: true });
  emu.tenant.assign(u.id, 'User');
  dir = tempDir();
  writeSettings(dir);
  env = emulatorEnv(emu, dir);
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => emu.tenant.clearRequests());

const tokenRequests = () => emu.tenant.requests().filter((r) => r.path.includes('/oauth2/v2.0/token'));

describe('a rejected value is echoed only when it is no longer than a GUID', () => {
  // Someone pastes the client secret into the wrong variable.
  const settings = [
    'ENTRASYNC_CLIENT_ID',
    'ENTRASYNC_SERVICE_PRINCIPAL_ID',
    'ENTRASYNC_TENANT_ID',
    'ENTRASYNC_CREDENTIAL',
    'ENTRASYNC_SCOPE',
    'ENTRASYNC_LOG_LEVEL',
    'ENTRASYNC_AUTHORITY_HOST',
    'ENTRASYNC_GRAPH_URL',
  ];
  for (const name of settings) {
    it(`the client secret in ${name} is not printed`, async () => {
      const r = await runCli(['sync'], { ...env, [name]: emu.clientSecret });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${name}:`);
      expect(r.stderr).toMatch(/value hidden: \d+ characters/);
      expect(r.stderr + r.stdout).not.toContain(emu.clientSecret);
      expect(tokenRequests()).toEqual([]);
    });
  }

  for (const name of [
    'ENTRASYNC_SCHEDULE',
    'ENTRASYNC_TIMEZONE',
    'ENTRASYNC_HTTP_PORT',
    'ENTRASYNC_HTTP_HOST',
  ]) {
    it(`the client secret in the daemon's ${name} is not printed`, async () => {
      const r = await runCli(['run'], { ...env, ENTRASYNC_HTTP_PORT: '0', [name]: emu.clientSecret });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${name}:`);
      expect(r.stderr + r.stdout).not.toContain(emu.clientSecret);
    });
  }

  it('a short rejected value is still shown, to help fix a typo', async () => {
    const r = await runCli(['sync'], { ...env, ENTRASYNC_CLIENT_ID: 'not-a-guid' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ENTRASYNC_CLIENT_ID: expected a GUID, got "not-a-guid"');
  });
});

describe('ENTRASYNC_TENANT_ID must look like a tenant', () => {
  for (const bad of [
    'not a tenant!',
    'contoso',
    'common',
    'organizations',
    'https://contoso.com',
    'a..b.com',
  ]) {
    it(`"${bad}" exits 2 before any token request`, async () => {
      const r = await runCli(['sync'], { ...env, ENTRASYNC_TENANT_ID: bad });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/ENTRASYNC_TENANT_ID: .*(GUID|domain)/);
      expect(tokenRequests()).toEqual([]);
    });
  }

  it('a GUID and a verified domain are accepted', () => {
    expect(loadConfig({ ...env, ENTRASYNC_TENANT_ID: emu.tenantId }).tenantId).toBe(emu.tenantId);
    expect(loadConfig({ ...env, ENTRASYNC_TENANT_ID: 'contoso.onmicrosoft.com' }).tenantId).toBe(
      'contoso.onmicrosoft.com',
    );
  });
});

/**
 * A host that is neither Microsoft's nor a loopback name. The CLI runs with a preload that resolves
 * it to 127.0.0.3, so anything entrasync sent there would land on this machine's loopback trap, and
 * no test traffic leaves loopback.
 */
const TRAP_HOST = 'login.entrasync-trap.test';
const TRAP_ADDRESS = '127.0.0.3';

describe('authority and Graph hosts', () => {
  let trap: Server;
  let connections = 0;
  let trapUrl = '';
  let trapEnv: Record<string, string> = {};
  beforeAll(async () => {
    // A TCP listener that counts connections: anything entrasync sends to the host would land here.
    trap = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, TRAP_ADDRESS, resolve));
    const port = (trap.address() as { port: number }).port;
    trapUrl = `https://${TRAP_HOST}:${port}`;
    const preload = join(dir, 'resolve-trap-host.mjs');
    writeFileSync(
      preload,
      `import dns from 'node:dns';
const lookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (host !== ${JSON.stringify(TRAP_HOST)}) return lookup.apply(this, arguments);
  const cb = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  const address = ${JSON.stringify(TRAP_ADDRESS)};
  process.nextTick(() => (all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
};
`,
    );
    trapEnv = { ...env, NODE_OPTIONS: `--import ${preload}` };
  });
  afterAll(() => new Promise<void>((resolve) => (trap ? trap.close(() => resolve()) : resolve())));
  beforeEach(() => {
    connections = 0;
  });

  it('another authority host exits 2 naming both variables, and nothing reaches it', async () => {
    const r = await runCli(['sync'], { ...trapEnv, ENTRASYNC_AUTHORITY_HOST: trapUrl });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENTRASYNC_AUTHORITY_HOST: /);
    expect(r.stderr).toContain('ENTRASYNC_ALLOW_CUSTOM_AUTHORITY');
    expect(connections).toBe(0);
    expect(r.stderr + r.stdout).not.toContain(emu.clientSecret);
  });

  it('another Graph host exits 2 naming both variables; no token is requested and nothing reaches it', async () => {
    const r = await runCli(['sync'], { ...trapEnv, ENTRASYNC_GRAPH_URL: trapUrl });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENTRASYNC_GRAPH_URL: /);
    expect(r.stderr).toContain('ENTRASYNC_ALLOW_CUSTOM_AUTHORITY');
    expect(connections).toBe(0);
    expect(tokenRequests()).toEqual([]);
  });

  it('with ENTRASYNC_ALLOW_CUSTOM_AUTHORITY=1 another host is used', async () => {
    const r = await runCli(['sync'], {
      ...trapEnv,
      ENTRASYNC_AUTHORITY_HOST: trapUrl,
      ENTRASYNC_ALLOW_CUSTOM_AUTHORITY: '1',
    });
    // Accepted as configured: the token request then fails at the (non-TLS) listener.
    expect(r.stderr).not.toMatch(/configuration error/);
    expect(r.code).toBe(1);
    expect(connections).toBeGreaterThan(0);
  });

  it('ENTRASYNC_ALLOW_CUSTOM_AUTHORITY takes 1 or 0 only', async () => {
    const r = await runCli(['sync'], { ...env, ENTRASYNC_ALLOW_CUSTOM_AUTHORITY: 'yes please' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ENTRASYNC_ALLOW_CUSTOM_AUTHORITY:');
  });

  it('look-alikes of Microsoft hosts are other hosts', () => {
    for (const [name, url] of [
      ['ENTRASYNC_AUTHORITY_HOST', 'https://login.microsoftonline.com.example.net'],
      ['ENTRASYNC_AUTHORITY_HOST', 'https://graph.microsoft.com'],
      ['ENTRASYNC_AUTHORITY_HOST', 'https://xlogin.microsoftonline.com'],
      ['ENTRASYNC_AUTHORITY_HOST', 'https://login.microsoftonline.com@example.net'],
      ['ENTRASYNC_AUTHORITY_HOST', 'https://example.net#login.microsoftonline.com'],
      ['ENTRASYNC_AUTHORITY_HOST', 'https://localhost.example.net'],
      ['ENTRASYNC_GRAPH_URL', 'https://login.microsoftonline.com'],
      ['ENTRASYNC_GRAPH_URL', 'https://graph.microsoft.com.example.net'],
      ['ENTRASYNC_GRAPH_URL', 'https://128.0.0.1'],
    ] as const) {
      expect(() => loadConfig({ ...env, [name]: url }), url).toThrow(/ENTRASYNC_ALLOW_CUSTOM_AUTHORITY/);
    }
  });

  it("Microsoft's clouds (public, US Gov, DoD, China) and loopback are accepted", () => {
    const pairs = [
      ['https://login.microsoftonline.com', 'https://graph.microsoft.com'],
      ['https://login.microsoftonline.us', 'https://graph.microsoft.us'],
      ['https://login.microsoftonline.us', 'https://dod-graph.microsoft.us'],
      ['https://login.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn'],
      ['https://LOGIN.microsoftonline.com:443', 'https://graph.microsoft.com/'],
      ['https://127.0.0.1:8443', 'https://127.9.8.7:1'],
      ['https://localhost:8443', 'https://[::1]:8443'],
    ];
    for (const [authority, graph] of pairs) {
      const c = loadConfig({ ...env, ENTRASYNC_AUTHORITY_HOST: authority, ENTRASYNC_GRAPH_URL: graph });
      expect(new URL(c.authorityHost).protocol).toBe('https:');
      expect(new URL(c.graphUrl).protocol).toBe('https:');
    }
  });

  it('the emulator as authority on localhost (loopback by name) syncs', async () => {
    // The Graph URL stays 127.0.0.1: the emulator only knows its own origin as the token's resource.
    const r = await runCli(['sync', '--json'], {
      ...env,
      ENTRASYNC_DB: join(tempDir(), 'store.db'),
      ENTRASYNC_AUTHORITY_HOST: emu.url.replace('127.0.0.1', 'localhost'),
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counts: { create: 1 } });
  });
});

describe('a certificate file whose private key does not parse', () => {
  const certificate = () => readFileSync(process.env.ENTRASYNC_TEST_TLS_CERT_FILE!, 'utf8').trim();
  const cases: [string, () => Promise<string>][] = [
    [
      'garbage in the key block',
      async () => `${certificate()}\n-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n`,
    ],
    [
      'a truncated RSA key',
      async () => {
        const key = readFileSync(process.env.ENTRASYNC_TEST_TLS_KEY_FILE!, 'utf8').trim().split('\n');
        return `${certificate()}\n${[...key.slice(0, 4), key.at(-1)!].join('\n')}\n`;
      },
    ],
    [
      'a key that is not the certificate’s',
      async () => `${certificate()}\n${(await generateTlsMaterial()).key}`,
    ],
  ];
  for (const [name, pem] of cases) {
    it(`${name}: exit 2 naming the file, no token request, no retries`, async () => {
      const file = join(tempDir(), 'client.pem');
      writeFileSync(file, await pem());
      const r = await runCli(['sync'], {
        ...env,
        ENTRASYNC_CLIENT_SECRET: '',
        ENTRASYNC_CLIENT_CERTIFICATE_FILE: file,
        ENTRASYNC_LOG_LEVEL: 'info',
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('ENTRASYNC_CLIENT_CERTIFICATE_FILE');
      expect(r.stderr).toContain(file);
      expect(r.stdout).not.toMatch(/retrying/);
      expect(tokenRequests()).toEqual([]);
    });
  }
});
