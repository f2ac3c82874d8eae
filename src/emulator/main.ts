import { startEmulator } from './index.js';

export interface EmulatorCommandOptions {
  port?: number;
  users?: number;
  groups?: number;
  assignEvery?: number;
  seed?: number;
  pageSize?: number;
}

/**
 * `entrasync emulator`: prints exactly one JSON line (the connection details) on stdout before
 * anything else, then serves until SIGINT/SIGTERM. Diagnostics go to stderr only.
 */
export async function runEmulatorCommand(opts: EmulatorCommandOptions): Promise<void> {
  const seeded = (opts.users ?? 0) > 0;
  const emu = await startEmulator({
    quiet: true,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}),
    ...(seeded
      ? {
          seed: {
            users: opts.users!,
            ...(opts.groups !== undefined ? { groups: opts.groups } : {}),
            ...(opts.assignEvery !== undefined ? { assignEvery: opts.assignEvery } : {}),
            seed: opts.seed ?? 1,
          },
        }
      : {}),
  });
  const { url, caFile, tenantId, clientId, clientSecret, appId, servicePrincipalId } = emu;
  process.stdout.write(
    `${JSON.stringify({ url, caFile, tenantId, clientId, clientSecret, appId, servicePrincipalId })}\n`,
  );
  process.stderr.write(`entrasync emulator: serving on ${url}; Ctrl-C to stop\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await emu.close();
}
