/** The daemon's settings: defaults, and a bad value is a configuration error (exit 2) naming it. */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import { DEFAULT_READY_MAX_AGE, loadDaemonConfig } from '../../src/config/daemon.js';
import { runCli, tempDir, writeSettings } from '../support/harness.js';
import { assertBuilt } from './support.js';

describe('loadDaemonConfig', () => {
  it('has defaults for an hourly sync, listening on loopback (the image sets 0.0.0.0)', () => {
    expect(loadDaemonConfig({})).toEqual({
      schedule: '0 * * * *',
      httpPort: 8080,
      httpHost: '127.0.0.1',
      readyMaxAgeSeconds: DEFAULT_READY_MAX_AGE,
      shutdownGraceSeconds: 8,
    });
    expect(DEFAULT_READY_MAX_AGE).toBeGreaterThan(2 * 3600);
  });

  it('takes 6-field expressions, a time zone and numbers', () => {
    expect(
      loadDaemonConfig({
        ENTRASYNC_SCHEDULE: '*/10 * * * * *',
        ENTRASYNC_TIMEZONE: 'Europe/Berlin',
        ENTRASYNC_HTTP_PORT: '9100',
        ENTRASYNC_HTTP_HOST: '127.0.0.1',
        ENTRASYNC_READY_MAX_AGE: '600',
        ENTRASYNC_SHUTDOWN_GRACE: '25',
      }),
    ).toEqual({
      schedule: '*/10 * * * * *',
      timezone: 'Europe/Berlin',
      httpPort: 9100,
      httpHost: '127.0.0.1',
      readyMaxAgeSeconds: 600,
      shutdownGraceSeconds: 25,
    });
  });

  for (const [name, value] of [
    ['ENTRASYNC_SCHEDULE', '61 * * * *'],
    ['ENTRASYNC_SCHEDULE', 'hourly'],
    ['ENTRASYNC_TIMEZONE', 'Mars/Olympus'],
    ['ENTRASYNC_HTTP_PORT', '80000'],
    ['ENTRASYNC_HTTP_PORT', '8080abc'],
    ['ENTRASYNC_READY_MAX_AGE', '0'],
    ['ENTRASYNC_SHUTDOWN_GRACE', '-1'],
  ] as const) {
    it(`rejects ${name}=${value}`, () => {
      expect(() => loadDaemonConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadDaemonConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
    });
  }
});

const env = (dir: string, extra: Record<string, string> = {}) => ({
  ENTRASYNC_TENANT_ID: 'contoso.onmicrosoft.com',
  ENTRASYNC_CLIENT_ID: '00000000-0000-4000-8000-000000000001',
  ENTRASYNC_CLIENT_SECRET: 'not-used',
  ENTRASYNC_DB: `${dir}/store.db`,
  ENTRASYNC_CONFIG: writeSettings(dir),
  ENTRASYNC_HTTP_HOST: '127.0.0.1',
  ...extra,
});

describe('entrasync run refuses to start', () => {
  it('exits 2 on a bad schedule, naming the variable', async () => {
    assertBuilt();
    const r = await runCli(['run'], env(tempDir(), { ENTRASYNC_SCHEDULE: '61 * * * *' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /configuration error: ENTRASYNC_SCHEDULE: "61 \* \* \* \*" is not a cron expression/,
    );
  });

  it('exits 2 on an unknown time zone', async () => {
    const r = await runCli(['run'], env(tempDir(), { ENTRASYNC_TIMEZONE: 'Mars/Olympus' }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENTRASYNC_TIMEZONE/);
  });

  it('exits 1 when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const r = await runCli(['run'], env(tempDir(), { ENTRASYNC_HTTP_PORT: String(port) }));
    blocker.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`));
  });
});
