import { readFileSync } from 'node:fs';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';

/**
 * Starts an in-process emulator serving the certificate that test/setup/tls.ts made for this run,
 * which the forked test workers already trust through NODE_EXTRA_CA_CERTS.
 */
export async function startTestEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const keyFile = process.env.ENTRASYNC_TEST_TLS_KEY_FILE;
  const certFile = process.env.ENTRASYNC_TEST_TLS_CERT_FILE;
  if (!keyFile || !certFile)
    throw new Error('ENTRASYNC_TEST_TLS_* not set: run under vitest with test/setup/tls.ts as globalSetup');
  return startEmulator({
    quiet: true,
    ...options,
    tls: { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') },
  });
}

/** An enabled user whose mail is its UPN and whose display name is the UPN's local part. */
export function createEnabledUser(
  emu: RunningEmulator,
  upn: string,
  extra: Record<string, unknown> = {},
): { id: string } {
  return emu.tenant.createUser({
    userPrincipalName: upn,
    displayName: upn.split('@')[0],
    mail: upn,
    accountEnabled: true,
    ...extra,
  });
}
