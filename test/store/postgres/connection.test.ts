import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { generateTlsMaterial } from '../../../src/emulator/tls.js';
import {
  checkConnection,
  createPool,
  isPostgresUrl,
  parsePostgresUrl,
  PostgresConnectionError,
  redactUrl,
  schemaName,
  type PostgresSettings,
} from '../../../src/store/postgres/connection.js';
import { isRetryable } from '../../../src/store/postgres/errors.js';
import { adminUrl, entrasyncBackends, freshDatabase } from '../../support/postgres.js';

/** The error `fn` throws (or rejects with), or a failure if it does not throw. */
async function thrown(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

/** Every trace of an error a log line could carry: message, stack, own properties, causes. */
const everything = (error: unknown) => `${String(error)}\n${inspect(error, { depth: 10, showHidden: true })}`;

describe('isPostgresUrl', () => {
  it('tells URLs of PostgreSQL from SQLite paths', () => {
    expect(isPostgresUrl('postgres://u@h/db')).toBe(true);
    expect(isPostgresUrl('postgresql://u@h/db')).toBe(true);
    expect(isPostgresUrl('POSTGRES://u@h/db')).toBe(true);
    expect(isPostgresUrl('./data/entrasync.db')).toBe(false);
    expect(isPostgresUrl('/var/lib/postgres://x.db')).toBe(false);
    expect(isPostgresUrl('postgres:/u@h/db')).toBe(false);
    expect(isPostgresUrl('mysql://u@h/db')).toBe(false);
  });
});

describe('parsePostgresUrl', () => {
  it('reads host, port, database, user and a percent-encoded password', () => {
    const s = parsePostgresUrl('postgresql://app%40corp:p%2Fss%3Aw0rd@db.example:6543/users_db', {});
    expect(s).toMatchObject({ host: 'db.example', port: 6543, database: 'users_db', user: 'app@corp' });
    expect(s.password?.()).toBe('p/ss:w0rd');
    expect(s.passwordSource).toBe('url');
    expect(s.redactedUrl).toBe('postgresql://app%40corp:***@db.example:6543/users_db');
    expect(s.schema).toBe('entrasync');
  });

  it('defaults the port to 5432, the host to localhost and the database to the user', () => {
    expect(parsePostgresUrl('postgres://alice@h', {})).toMatchObject({
      host: 'h',
      port: 5432,
      database: 'alice',
    });
    expect(parsePostgresUrl('postgres:///db', { PGUSER: 'bob' })).toMatchObject({
      host: 'localhost',
      user: 'bob',
    });
    expect(parsePostgresUrl('postgres://u@[::1]:5433/db', {})).toMatchObject({ host: '::1', port: 5433 });
  });

  it('takes host, port, user, dbname and password from query parameters as libpq does', () => {
    const s = parsePostgresUrl('postgres:///?host=10.0.0.9&port=5444&user=u&dbname=d&password=qp', {});
    expect(s).toMatchObject({ host: '10.0.0.9', port: 5444, user: 'u', database: 'd' });
    expect(s.password?.()).toBe('qp');
    expect(s.redactedUrl).not.toContain('qp');
  });

  it('maps sslmode onto TLS options', () => {
    const mode = (m: string) => parsePostgresUrl(`postgres://u@db.example/d?sslmode=${m}`, {});
    expect(parsePostgresUrl('postgres://u@h/d', {}).ssl).toBe(false);
    expect(mode('disable').ssl).toBe(false);
    expect(mode('require').ssl).toEqual({ rejectUnauthorized: false });
    const ca = mode('verify-ca').ssl as { rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
    expect(ca.rejectUnauthorized).toBe(true);
    // verify-ca checks the chain, not the host name.
    expect(ca.checkServerIdentity()).toBeUndefined();
    expect(mode('verify-full').ssl).toEqual({
      rejectUnauthorized: true,
      ca: undefined,
      servername: 'db.example',
    });
    for (const bad of ['prefer', 'allow', 'on', 'VERIFY-FULL']) {
      expect(() => mode(bad)).toThrow(
        /ENTRASYNC_DB: sslmode: expected disable, require, verify-ca, verify-full/,
      );
    }
  });

  it('reads the CA of sslrootcert, and names an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entrasync-pg-ca-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), 'PEM');
      const s = parsePostgresUrl(
        `postgres://u@h/d?sslmode=verify-full&sslrootcert=${join(dir, 'ca.pem')}`,
        {},
      );
      expect(s.ssl).toMatchObject({ ca: 'PEM', rejectUnauthorized: true });
      expect(() =>
        parsePostgresUrl(`postgres://u@h/d?sslmode=verify-ca&sslrootcert=${join(dir, 'no.pem')}`, {}),
      ).toThrow(/ENTRASYNC_DB: sslrootcert: cannot read .*no\.pem: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown parameter, a bad port, a missing user, naming ENTRASYNC_DB', () => {
    expect(() => parsePostgresUrl('postgres://u@h/d?options=-c%20x', {})).toThrow(
      /ENTRASYNC_DB: unknown URL parameter "options"/,
    );
    expect(() => parsePostgresUrl('postgres://u@h/d?port=99999', {})).toThrow(
      /ENTRASYNC_DB: port: expected 1-65535/,
    );
    expect(() => parsePostgresUrl('postgres://h/d', {})).toThrow(/ENTRASYNC_DB: no user/);
    expect(() => parsePostgresUrl('postgres://u@h/d?connect_timeout=soon', {})).toThrow(/connect_timeout/);
  });

  it('takes the password from the URL, then PGPASSWORD, then ENTRASYNC_DB_PASSWORD_FILE (trailing newline trimmed)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entrasync-pg-pw-'));
    try {
      const file = join(dir, 'password');
      writeFileSync(file, ' from file \n');
      const env = { PGPASSWORD: 'from-env', ENTRASYNC_DB_PASSWORD_FILE: file };
      expect(parsePostgresUrl('postgres://u:from-url@h/d', env).password?.()).toBe('from-url');
      expect(parsePostgresUrl('postgres://u@h/d', env).passwordSource).toBe('PGPASSWORD');
      expect(parsePostgresUrl('postgres://u@h/d', env).password?.()).toBe('from-env');
      const fromFile = parsePostgresUrl('postgres://u@h/d', { ENTRASYNC_DB_PASSWORD_FILE: file });
      expect(fromFile.passwordSource).toBe('ENTRASYNC_DB_PASSWORD_FILE');
      expect(fromFile.password?.()).toBe(' from file ');
      // A rotated file is read again for the next connection.
      writeFileSync(file, 'rotated\r\n');
      expect(fromFile.password?.()).toBe('rotated');
      expect(parsePostgresUrl('postgres://u@h/d', {}).password).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names ENTRASYNC_DB_PASSWORD_FILE when the file cannot be read or is empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entrasync-pg-pw-'));
    try {
      const missing = thrownSync(() =>
        parsePostgresUrl('postgres://u@h/d', { ENTRASYNC_DB_PASSWORD_FILE: join(dir, 'none') }),
      );
      expect(missing).toBeInstanceOf(ConfigError);
      expect(missing.message).toMatch(/^ENTRASYNC_DB_PASSWORD_FILE: cannot read .*none: ENOENT$/);
      writeFileSync(join(dir, 'empty'), '\n');
      expect(() =>
        parsePostgresUrl('postgres://u@h/d', { ENTRASYNC_DB_PASSWORD_FILE: join(dir, 'empty') }),
      ).toThrow(/ENTRASYNC_DB_PASSWORD_FILE: file .* is empty/);
      if (process.getuid?.() !== 0) {
        writeFileSync(join(dir, 'locked'), 'pw');
        chmodSync(join(dir, 'locked'), 0);
        expect(() =>
          parsePostgresUrl('postgres://u@h/d', { ENTRASYNC_DB_PASSWORD_FILE: join(dir, 'locked') }),
        ).toThrow(/ENTRASYNC_DB_PASSWORD_FILE: cannot read .*: EACCES/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never shows the password of a URL it cannot parse', async () => {
    const secret = 'Sup3r-S3cret';
    for (const url of [
      `postgres://admin:${secret}@h1:5432,h2:5432/db`,
      `postgres://admin:${secret}@host:port/db`,
      `postgres://admin:${secret}/x@h/db`,
      `postgres://admin:${secret} x@h/db?port=0`,
      `postgres://admin:${secret}@h/d?sslmode=bogus`,
      `postgres://admin:${secret}@h/d?password=${secret}&nope=1`,
      `postgres://admin:${secret}@h/%E0%A4%A`,
    ]) {
      const error = await thrown(() => parsePostgresUrl(url, {}));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toMatch(/^ENTRASYNC_DB: /);
      expect(everything(error)).not.toContain(secret);
    }
  });
});

function thrownSync(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('redactUrl', () => {
  it('replaces the password wherever it is, and leaves a URL without one alone', () => {
    expect(redactUrl('postgres://u:pw@h:5/d?sslmode=require')).toBe('postgres://u:***@h:5/d?sslmode=require');
    expect(redactUrl('postgres://u@h/d?password=pw&sslmode=require')).toBe(
      'postgres://u@h/d?password=***&sslmode=require',
    );
    expect(redactUrl('postgres://u@h/d')).toBe('postgres://u@h/d');
    // Not a URL at all: hidden by pattern, up to the last @.
    expect(redactUrl('postgres://u:p@ss@h1:1,h2:2/d')).toBe('postgres://u:***@h1:1,h2:2/d');
    expect(redactUrl('postgres://u@h1:1,h2:2/d?password=x@y')).not.toContain('x@y');
  });
});

describe('schemaName', () => {
  it('defaults to entrasync and accepts a plain lower-case identifier', () => {
    expect(schemaName({})).toBe('entrasync');
    expect(schemaName({ ENTRASYNC_DB_SCHEMA: 'app_users2' })).toBe('app_users2');
  });

  it('rejects anything that would need quoting, naming ENTRASYNC_DB_SCHEMA', () => {
    for (const bad of [
      'Entrasync',
      'a-b',
      '1abc',
      'a.b',
      'x"; DROP TABLE users; --',
      'pg_temp',
      'a'.repeat(64),
    ]) {
      expect(() => schemaName({ ENTRASYNC_DB_SCHEMA: bad })).toThrow(
        /^ENTRASYNC_DB_SCHEMA: expected a plain identifier/,
      );
    }
  });
});

describe('the pool against the real server', () => {
  let url: string;
  let settings: PostgresSettings;
  const password = () => new URL(adminUrl()).password;

  beforeAll(async () => {
    url = await freshDatabase('connection');
    settings = parsePostgresUrl(url, {});
  });

  it('connects, names itself entrasync and applies the statement timeout', async () => {
    const pool = createPool(settings, { statementTimeoutMs: 1234 });
    try {
      await checkConnection(pool, settings);
      const { rows } = await pool.query(
        `SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS timeout,
                count(*) AS n FROM generate_series(1, 3)`,
      );
      // count(*) is a bigint: read as a number, not a string.
      expect(rows[0]).toEqual({ app: 'entrasync', timeout: '1234ms', n: 3 });
      // Fault tests find entrasync's connections by that name.
      const { rows: own } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(await entrasyncBackends(url)).toContain(own[0]!.pid);
    } finally {
      await pool.end();
    }
  });

  it('logs in with the password from PGPASSWORD or from ENTRASYNC_DB_PASSWORD_FILE', async () => {
    const bare = new URL(url);
    bare.password = '';
    const dir = mkdtempSync(join(tmpdir(), 'entrasync-pg-pw-'));
    writeFileSync(join(dir, 'pw'), `${password()}\n`);
    try {
      for (const env of [{ PGPASSWORD: password() }, { ENTRASYNC_DB_PASSWORD_FILE: join(dir, 'pw') }]) {
        const s = parsePostgresUrl(bare.toString(), env);
        const pool = createPool(s);
        try {
          expect((await pool.query('SELECT current_user AS u')).rows).toEqual([{ u: 'postgres' }]);
        } finally {
          await pool.end();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a wrong password without showing it, as a failure not worth retrying', async () => {
    const wrong = new URL(url);
    wrong.password = 'Wr0ng-Pa55word';
    const s = parsePostgresUrl(wrong.toString(), {});
    const pool = createPool(s);
    try {
      const error = await thrown(() => checkConnection(pool, s));
      expect(error).toBeInstanceOf(PostgresConnectionError);
      expect(error.message).toMatch(
        /^PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/connection_\w+: password authentication failed/,
      );
      expect(everything(error)).not.toContain('Wr0ng-Pa55word');
      expect((error as PostgresConnectionError).code).toBe('28P01');
      expect(isRetryable(error)).toBe(false);
    } finally {
      await pool.end();
    }
  });

  it('fails an unreachable port without showing the password, as a failure worth retrying', async () => {
    const closed = new URL(url);
    closed.port = '1';
    const s = parsePostgresUrl(closed.toString(), {});
    const pool = createPool(s);
    try {
      const error = await thrown(() => checkConnection(pool, s));
      expect(error.message).toMatch(
        /^PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/.*ECONNREFUSED/,
      );
      expect(everything(error)).not.toContain(password());
      expect(isRetryable(error)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  describe('sslmode against the server with TLS (the test run’s certificate names 127.0.0.1 and localhost)', () => {
    const caFile = () => process.env.ENTRASYNC_TEST_TLS_CERT_FILE!;
    let otherCaDir: string;
    /** A CA that did not issue the server's certificate. */
    const otherCa = () => join(otherCaDir, 'other-ca.pem');

    beforeAll(async () => {
      otherCaDir = mkdtempSync(join(tmpdir(), 'entrasync-pg-ca-'));
      writeFileSync(otherCa(), (await generateTlsMaterial()).cert);
    });

    afterAll(() => rmSync(otherCaDir, { recursive: true, force: true }));

    /** Connects with `query` added to the URL on `host`; says whether the session is encrypted. */
    async function session(query: string, host = '127.0.0.1'): Promise<{ ssl: boolean } | Error> {
      const u = new URL(url);
      u.hostname = host;
      const s = parsePostgresUrl(`${u.toString()}?${query}`, {});
      const pool = createPool(s);
      try {
        await checkConnection(pool, s);
        const { rows } = await pool.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
        return { ssl: rows[0].ssl };
      } catch (error) {
        return error as Error;
      } finally {
        await pool.end();
      }
    }

    it('disable stays plain; require encrypts without checking the certificate', async () => {
      expect(await session('sslmode=disable')).toEqual({ ssl: false });
      expect(await session('')).toEqual({ ssl: false });
      expect(await session('sslmode=require', '127.0.0.2')).toEqual({ ssl: true });
    });

    it('verify-full checks the chain against sslrootcert and the host name', async () => {
      expect(await session(`sslmode=verify-full&sslrootcert=${caFile()}`)).toEqual({ ssl: true });
      const wrongHost = await session(`sslmode=verify-full&sslrootcert=${caFile()}`, '127.0.0.2');
      expect(wrongHost).toBeInstanceOf(PostgresConnectionError);
      expect((wrongHost as Error).message).toMatch(/127\.0\.0\.2.*(altnames|does not match)/i);
      expect(everything(wrongHost)).not.toContain(password());
      expect(isRetryable(wrongHost)).toBe(false);
      const wrongCa = await session(`sslmode=verify-full&sslrootcert=${otherCa()}`);
      expect(wrongCa).toBeInstanceOf(PostgresConnectionError);
      expect((wrongCa as Error).message).toMatch(/self[- ]signed|unable to verify|issuer/i);
      // Without sslrootcert, the CAs Node trusts: here the test run's, through NODE_EXTRA_CA_CERTS.
      expect(await session('sslmode=verify-full')).toEqual({ ssl: true });
    });

    it('verify-ca checks the chain but not the host name', async () => {
      expect(await session(`sslmode=verify-ca&sslrootcert=${caFile()}`, '127.0.0.2')).toEqual({ ssl: true });
      const wrongCa = await session(
        'sslmode=verify-ca&sslrootcert=/etc/ssl/certs/ca-certificates.crt',
        '127.0.0.2',
      );
      expect(wrongCa).toBeInstanceOf(PostgresConnectionError);
    });
  });
});
