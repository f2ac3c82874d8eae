/**
 * Errors that name the cause and the fix (issue 15 §2), through the built CLI as a child process
 * against the emulator: every configuration problem in one run, a store path that cannot be opened,
 * the environment in --help, and `run --port/--schedule`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { COMMANDS_WITH_ENVIRONMENT } from '../../src/cli/help-environment.js';
import { Store } from '../../src/store/index.js';
import { startTestEmulator } from '../support/emulator.js';
import { STORE_KINDS, testStore, type TestStore } from '../support/stores.js';
import { CLI, emulatorEnv, ROOT, runCli, tempDir, writeSettings } from '../support/harness.js';

let emu: RunningEmulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  emu = await startTestEmulator();
  const u = emu.tenant.createUser({ userPrincipalName: 'ana@contoso.com', accountEnabled: true });
  emu.tenant.assign(u.id, 'User');
  dir = tempDir();
  writeSettings(dir);
  env = emulatorEnv(emu, dir);
});
afterAll(async () => {
  await emu.close();
});

const configLines = (stderr: string) =>
  stderr.split('\n').filter((l) => l.startsWith('entrasync: configuration error: '));

describe('every configuration problem in one run', () => {
  it('sync with no identity names the tenant, the client id and the credential at once', async () => {
    const store = join(tempDir(), 'store.db');
    const r = await runCli(['sync'], {
      ENTRASYNC_DB: store,
      ENTRASYNC_CONFIG: env.ENTRASYNC_CONFIG!,
      ENTRASYNC_SCOPE: 'some',
    });
    expect(r.code).toBe(2);
    const lines = configLines(r.stderr);
    expect(lines).toHaveLength(4);
    expect(lines.join('\n')).toMatch(/ENTRASYNC_TENANT_ID: is required/);
    expect(lines.join('\n')).toMatch(/ENTRASYNC_CLIENT_ID: is required/);
    expect(lines.join('\n')).toMatch(/ENTRASYNC_CLIENT_SECRET: no credential configured/);
    expect(lines.join('\n')).toMatch(/ENTRASYNC_SCOPE: expected "assigned" or "all"/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(store)).toBe(false);
  });

  it('every wrong key of the settings file, and a bad variable beside them', async () => {
    const settingsDir = tempDir();
    const file = writeSettings(settingsDir, {
      graph: { maxAttempts: 'six', retryBaseDelayMs: -5, retryMaxDelayMs: 200 },
    });
    const r = await runCli(['sync'], { ...env, ENTRASYNC_CONFIG: file, ENTRASYNC_LOG_LEVEL: 'loud' });
    expect(r.code).toBe(2);
    const text = configLines(r.stderr).join('\n');
    expect(text).toMatch(/ENTRASYNC_LOG_LEVEL/);
    expect(text).toMatch(/graph\.maxAttempts/);
    expect(text).toMatch(/graph\.retryBaseDelayMs/);
  });

  it('a mapping typo beside a missing variable: both in one run', async () => {
    const file = writeSettings(tempDir(), {
      mappings: [
        { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
        { target: 'displayName', direct: 'dispalyName' },
      ],
    });
    const r = await runCli(['sync'], { ...env, ENTRASYNC_CONFIG: file, ENTRASYNC_CLIENT_ID: '' });
    expect(r.code).toBe(2);
    const text = configLines(r.stderr).join('\n');
    expect(text).toMatch(/ENTRASYNC_CLIENT_ID: is required/);
    expect(text).toMatch(
      /mappings\[1\]\.direct: .*unknown source attribute "dispalyName" \(did you mean "displayName"\?\)/,
    );
    expect(configLines(r.stderr)).toHaveLength(2);
  });

  it('run: the daemon settings and the cycle settings together', async () => {
    const r = await runCli(['run'], {
      ...env,
      ENTRASYNC_TENANT_ID: '',
      ENTRASYNC_HTTP_PORT: '99999',
      ENTRASYNC_SCHEDULE: 'every hour',
    });
    expect(r.code).toBe(2);
    const text = configLines(r.stderr).join('\n');
    expect(text).toMatch(/ENTRASYNC_TENANT_ID: is required/);
    expect(text).toMatch(/ENTRASYNC_HTTP_PORT: expected a whole number from 0 to 65535/);
    expect(text).toMatch(/ENTRASYNC_SCHEDULE: "every hour" is not a cron expression/);
    expect(configLines(r.stderr)).toHaveLength(3);
  });
});

describe('a store path that cannot be opened names ENTRASYNC_DB and the path', () => {
  // A path under a file does not exist: the read-only commands say "no store at" it, as before.
  const cases: [string, () => string, RegExp, string[][]][] = [
    [
      'a folder',
      () => {
        const d = join(tempDir(), 'a-folder');
        mkdirSync(d);
        return d;
      },
      /it is a folder/,
      [['sync'], ['status'], ['audit']],
    ],
    [
      'under a file',
      () => {
        const f = join(tempDir(), 'a-file');
        writeFileSync(f, 'x');
        return join(f, 'store.db');
      },
      /ENOTDIR/,
      [['sync']],
    ],
    [
      'not a database',
      () => {
        const f = join(tempDir(), 'notes.txt');
        writeFileSync(f, 'these are not the droids you are looking for, nor a SQLite database\n'.repeat(100));
        return f;
      },
      /not a database/,
      [['sync'], ['status'], ['audit']],
    ],
  ];
  for (const [name, make, reason, commands] of cases) {
    for (const args of commands) {
      it(`${name}: ${args.join(' ')}`, async () => {
        const path = make();
        const r = await runCli(args, { ...env, ENTRASYNC_DB: path });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`ENTRASYNC_DB: cannot open the store at ${path}: `);
        expect(r.stderr).toMatch(reason);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      });
    }
  }
});

describe('--help names the environment each command reads', () => {
  it.each(COMMANDS_WITH_ENVIRONMENT)('%s --help', async (command) => {
    const r = await runCli([...command.split(' '), '--help'], {});
    expect(r.code).toBe(0);
    const environment = r.stdout.slice(r.stdout.indexOf('\nEnvironment:\n'));
    expect(r.stdout).toContain('\nEnvironment:\n');
    if (command !== 'mappings check') expect(environment).toContain('ENTRASYNC_DB');
    expect(environment).toContain('ENTRASYNC_CONFIG');
    const storeOnly = [
      'status',
      'audit',
      'users export',
      'groups export',
      'retry',
      'reject-deletions',
      'mappings check',
    ];
    expect(environment.includes('ENTRASYNC_TENANT_ID')).toBe(!storeOnly.includes(command));
  });

  it('run --help lists the daemon variables and the flags that override them', async () => {
    const r = await runCli(['run', '--help'], {});
    expect(r.stdout).toMatch(/--port <n>/);
    expect(r.stdout).toMatch(/--schedule <cron>/);
    const environment = r.stdout.slice(r.stdout.indexOf('\nEnvironment:\n'));
    for (const name of [
      'ENTRASYNC_SCHEDULE',
      'ENTRASYNC_HTTP_PORT',
      'ENTRASYNC_TIMEZONE',
      'ENTRASYNC_TENANT_ID',
    ])
      expect(environment).toContain(name);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('run --port and --schedule', () => {
  it('override ENTRASYNC_HTTP_PORT and ENTRASYNC_SCHEDULE', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'run', '--port', String(port), '--schedule', '*/5 * * * *'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
        ...env,
        ENTRASYNC_DB: join(tempDir(), 'store.db'),
        ENTRASYNC_HTTP_HOST: '127.0.0.1',
        ENTRASYNC_HTTP_PORT: '0',
        ENTRASYNC_SCHEDULE: '0 3 * * *',
        ENTRASYNC_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === 'daemon started');
        if (line) resolve(line);
      });
      child.on('exit', () => reject(new Error(`daemon exited: ${out}`)));
    });
    try {
      expect(started.port).toBe(port);
      expect(started.schedule).toBe('*/5 * * * *');
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('exit', resolve));
    }
  });

  it.each([
    [['--port', '70000'], /--port/],
    [['--port', 'http'], /--port/],
    [['--schedule', '61 * * * *'], /--schedule/],
  ])('run %s exits 2 naming the flag', async (args, flag) => {
    const r = await runCli(['run', ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(flag);
    expect(r.stderr).not.toMatch(/daemon started/);
  });
});

describe('a mapping that reads an attribute no Graph user has', () => {
  const settingsWith = (mapping: Record<string, string>) =>
    writeSettings(tempDir(), {
      mappings: [
        { target: 'userName', direct: 'userPrincipalName', matchingPrecedence: 1 },
        { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
        mapping,
      ],
    });

  it.each([
    [
      { target: 'displayName', direct: 'dispalyName' },
      /direct: unknown source attribute "dispalyName" \(did you mean "displayName"\?\)/,
    ],
    [
      { target: 'title', expression: 'Join(" ", [jobTitel], [surname])' },
      /expression: unknown source attribute "jobTitel" \(did you mean "jobTitle"\?\)/,
    ],
    [
      { target: 'title', direct: 'extension_abc_costCenter' },
      /unknown source attribute "extension_abc_costCenter" \(a directory extension is extension_<application id without dashes>_<name>\)/,
    ],
    [
      { target: 'title', direct: 'favouriteColour' },
      /unknown source attribute "favouriteColour": not a property of the Microsoft Graph user resource/,
    ],
  ])('%j: mappings check, sync and run exit 2 naming it', async (mapping, message) => {
    const file = settingsWith(mapping);
    const store = join(tempDir(), 'store.db');
    for (const args of [['mappings', 'check'], ['sync'], ['run']]) {
      const r = await runCli(args, {
        ...env,
        ENTRASYNC_CONFIG: file,
        ENTRASYNC_DB: store,
        ENTRASYNC_HTTP_PORT: '0',
      });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/mappings\[2\] \(target "(displayName|title)"\)/);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).not.toMatch(/daemon started|cycle started/);
    }
    expect(existsSync(store)).toBe(false);
  });

  it('Graph properties in any case, directory extensions and the virtual attributes pass', async () => {
    const file = writeSettings(tempDir(), {
      mappings: [
        { target: 'userName', direct: 'UserPrincipalName', matchingPrecedence: 1 },
        { target: 'active', expression: 'Switch([IsSoftDeleted], , "False", "True", "True", "False")' },
        { target: 'title', direct: 'extension_0123456789abcdef0123456789ABCDEF_costCenter' },
        { target: 'displayName', expression: 'Join(" ", [givenName], [surname], [employeeOrgData])' },
        { target: 'locale', expression: 'SingleAppRoleAssignment([appRoleAssignments])' },
      ],
    });
    const r = await runCli(['mappings', 'check'], { ...env, ENTRASYNC_CONFIG: file });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/extension_0123456789abcdef0123456789ABCDEF_costCenter/);
  });
});

describe('a certificate this process does not trust fails at once, naming NODE_EXTRA_CA_CERTS', () => {
  // NODE_EXTRA_CA_CERTS empty: the emulator's throwaway certificate is not trusted.
  const untrusted = () => ({ ...env, ENTRASYNC_LOG_LEVEL: 'info', NODE_EXTRA_CA_CERTS: '' });
  const retries = (text: string) => text.match(/request failed, retrying/g)?.length ?? 0;

  it('test-connection: one attempt, the TLS cause and the variable', async () => {
    const r = await runCli(['test-connection'], untrusted());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /FAIL token: TLS: the certificate of 127\.0\.0\.1:\d+ is self-signed and not trusted by this process \(DEPTH_ZERO_SELF_SIGNED_CERT\); NODE_EXTRA_CA_CERTS is not set\. Set NODE_EXTRA_CA_CERTS/,
    );
    expect(retries(r.stdout + r.stderr)).toBe(0);
  });

  it('sync --dry-run: fails once, naming the variable', async () => {
    const r = await runCli(['sync', '--dry-run'], {
      ...untrusted(),
      ENTRASYNC_DB: join(tempDir(), 'store.db'),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/entrasync: TLS: .*DEPTH_ZERO_SELF_SIGNED_CERT.*NODE_EXTRA_CA_CERTS/);
    expect(retries(r.stdout + r.stderr)).toBe(0);
  });

  it('Graph (token fine) on a certificate for another host name: ERR_TLS_CERT_ALTNAME_INVALID, not retried', async () => {
    // The test certificate is for 127.0.0.1 and localhost; ::ffff:127.0.0.1 reaches the same server.
    const url = emu.url.replace('127.0.0.1', '[::ffff:7f00:1]');
    const r = await runCli(['test-connection'], {
      ...env,
      ENTRASYNC_LOG_LEVEL: 'info',
      ENTRASYNC_GRAPH_URL: url,
      ENTRASYNC_ALLOW_CUSTOM_AUTHORITY: '1',
    });
    expect(r.code).toBe(1);
    // The token comes from the trusted host; the check's first Graph read (/organization) fails.
    expect(r.stdout).toMatch(
      /FAIL token: TLS: the certificate of \[::ffff:7f00:1\]:\d+ is not issued for this host name \(ERR_TLS_CERT_ALTNAME_INVALID\); check ENTRASYNC_AUTHORITY_HOST and ENTRASYNC_GRAPH_URL/,
    );
    expect(retries(r.stdout + r.stderr)).toBe(0);
  });
});

describe('ENTRASYNC_SERVICE_PRINCIPAL_ID that is not a service principal', () => {
  const hint =
    "ENTRASYNC_SERVICE_PRINCIPAL_ID must be the enterprise application's Object ID (not the client/application id)";

  it('the client id: test-connection fails the service principal check and names the Object ID', async () => {
    const r = await runCli(['test-connection'], { ...env, ENTRASYNC_SERVICE_PRINCIPAL_ID: emu.clientId });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toMatch(/ok {3}service principal/);
    expect(r.stdout).toContain(
      `FAIL service principal: ${hint}: ${emu.clientId} is the application (client) id`,
    );
    expect(r.stdout).toContain(`ENTRASYNC_SERVICE_PRINCIPAL_ID=${emu.servicePrincipalId}`);
    // Nothing is read from the wrong id after that.
    expect(r.stdout).not.toMatch(/assignments:/);
  });

  it('an id that is no object at all', async () => {
    const wrong = '0b0b0b0b-0000-4000-8000-000000000001';
    const r = await runCli(['test-connection'], { ...env, ENTRASYNC_SERVICE_PRINCIPAL_ID: wrong });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL service principal: ${hint}: no service principal has the id ${wrong}`);
  });

  it('the right one passes and is named', async () => {
    const r = await runCli(['test-connection'], {
      ...env,
      ENTRASYNC_SERVICE_PRINCIPAL_ID: emu.servicePrincipalId,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`ok {3}service principal: service principal ${emu.servicePrincipalId}`),
    );
  });
});

describe.each(STORE_KINDS)('failed cycles recorded on %s', (kind) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await testStore(kind, tempDir());
  });
  afterEach(() => store.close());
  const lastCycle = async () =>
    (
      await store.query<{ status: string; failure_class: string; error: string }>(
        'SELECT status, failure_class, error FROM t.cycles ORDER BY started_at DESC LIMIT 1',
      )
    )[0];

  it('sync with the client id as ENTRASYNC_SERVICE_PRINCIPAL_ID: fails naming the setting, persistent, nothing written', async () => {
    const r = await runCli(['sync'], {
      ...env,
      ENTRASYNC_DB: store.db,
      ENTRASYNC_SERVICE_PRINCIPAL_ID: emu.clientId,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `entrasync: ENTRASYNC_SERVICE_PRINCIPAL_ID must be the enterprise application's Object ID (not the client/application id): ${emu.clientId} is the application (client) id`,
    );
    expect(await lastCycle()).toMatchObject({ status: 'failed', failure_class: 'persistent' });
    expect(await store.users()).toEqual([]);
  });

  it('sync on an untrusted certificate: one attempt, persistent, the error names NODE_EXTRA_CA_CERTS', async () => {
    expect((await runCli(['sync'], { ...env, ENTRASYNC_DB: store.db })).code).toBe(0);
    const r = await runCli(['sync'], {
      ...env,
      ENTRASYNC_DB: store.db,
      ENTRASYNC_LOG_LEVEL: 'info',
      NODE_EXTRA_CA_CERTS: '',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/entrasync: TLS: .*DEPTH_ZERO_SELF_SIGNED_CERT.*NODE_EXTRA_CA_CERTS/);
    expect(r.stdout + r.stderr).not.toMatch(/request failed, retrying/);
    const last = await lastCycle();
    expect(last).toMatchObject({ status: 'failed', failure_class: 'persistent' });
    expect(last!.error).toMatch(/NODE_EXTRA_CA_CERTS is not set/);
  });
});

describe('a reader that closes the pipe early ends the command quietly', () => {
  let store: string;
  beforeAll(() => {
    store = join(tempDir(), 'store.db');
    const s = Store.open(store);
    const now = new Date().toISOString();
    s.db
      .prepare(
        `INSERT INTO cycles (id, kind, started_at, ended_at, status) VALUES ('c1', 'initial', ?, ?, 'succeeded')`,
      )
      .run(now, now);
    // Far more output than a pipe buffers (64 KiB), so the writer meets the closed pipe.
    const audit = s.db.prepare(
      `INSERT INTO audit (cycle_id, at, action, status, entra_id, user_name, modified, reason)
       VALUES ('c1', ?, 'update', 'success', ?, ?, '[]', 'a reason long enough to fill the pipe quickly')`,
    );
    const user = s.db.prepare('INSERT INTO users (user_name, display_name) VALUES (?, ?)');
    s.db.transaction(() => {
      for (let i = 0; i < 3000; i++) {
        audit.run(now, `entra-${i}`, `user${i}@contoso.com`);
        user.run(`local${i}@contoso.com`, `Local user number ${i}`);
      }
    })();
    s.close();
  });

  it.each([
    [['audit', '--limit', '3000']],
    [['audit', '--json', '--limit', '3000']],
    [['users', 'export']],
    [['status', '--json']],
  ])('%j | head -1: exit 0, nothing on stderr', async (args) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, ENTRASYNC_DB: store, ENTRASYNC_CONFIG: env.ENTRASYNC_CONFIG },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(d.toString())),
    );
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(first.length).toBeGreaterThan(0);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('a stderr whose reader is gone', () => {
  it('test-connection still prints its checks and exits 1 (not a crash on EPIPE)', async () => {
    const closed = `https://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [CLI, 'test-connection'], {
      env: {
        PATH: process.env.PATH,
        ...env,
        ENTRASYNC_AUTHORITY_HOST: closed,
        ENTRASYNC_GRAPH_URL: closed,
        ENTRASYNC_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // The first retry warning arrives on stderr; its reader goes away.
    child.stderr.once('data', () => child.stderr.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stdout).toMatch(
      /^FAIL token: token endpoint failed 6 times: network_error: Network request failed: fetch failed \(ECONNREFUSED\)/,
    );
    expect(code).toBe(1);
  });
});
