/**
 * Vitest global setup. NODE_EXTRA_CA_CERTS is read once when a process starts, so the certificate
 * that in-process emulators serve must exist before the test workers are forked. One certificate is
 * made per test run; every in-process emulator uses it (see test/support/emulator.ts), and the
 * workers trust it through a bundle of the machine's CAs plus this one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTlsMaterial } from '../../src/emulator/tls.js';

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'entrasync-test-tls-'));
  const { key, cert } = await generateTlsMaterial();
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert);
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  const system = previous && existsSync(previous) ? readFileSync(previous, 'utf8') : '';
  const bundle = join(dir, 'bundle.pem');
  writeFileSync(bundle, `${system}\n${cert}`);
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  process.env.ENTRASYNC_TEST_TLS_KEY_FILE = keyFile;
  process.env.ENTRASYNC_TEST_TLS_CERT_FILE = certFile;
  return () => rmSync(dir, { recursive: true, force: true });
}
