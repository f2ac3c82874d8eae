import { ManagedIdentityApplication } from '@azure/msal-node';
import { afterEach, beforeEach, expect } from 'vitest';
import type { RunningEmulator } from '../../src/emulator/index.js';

/**
 * Points msal's App Service managed-identity source at the emulator for each test of the calling
 * describe block, and restores the environment after it. Without these two variables msal would
 * fall back to IMDS (169.254.169.254): the check makes sure a test never goes there.
 */
export function managedIdentityFromEmulator(emulator: () => RunningEmulator): void {
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  beforeEach(() => {
    process.env.IDENTITY_ENDPOINT = `${emulator().url}/msi/token`;
    process.env.IDENTITY_HEADER = emulator().identityHeader;
    expect(new ManagedIdentityApplication({}).getManagedIdentitySource()).toBe('AppService');
  });
  afterEach(() => {
    for (const [k, v] of [
      ['IDENTITY_ENDPOINT', saved.endpoint],
      ['IDENTITY_HEADER', saved.header],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}
