/**
 * Node.js releases on which better-sqlite3 12 (the store's driver) takes the process down: they
 * register an environment cleanup hook in node::ObjectWrap, and when the garbage collector finalizes
 * a Statement from a native callback (a socket read) no context is entered and Node aborts with
 * SIGABRT (nodejs/node#65446). A daemon that talks HTTPS and prepares statements is exactly that case.
 */
const ABORTING = { major: 24, fromMinor: 19, toMinor: 21 };

export const SAFE_NODE_VERSIONS = '20.19 or later 20.x, 22.x, or 24.22.3 and later';

/** Why this runtime cannot run the store, or null when it can. */
export function unsafeRuntimeReason(nodeVersion: string): string | null {
  const [major, minor] = nodeVersion.replace(/^v/, '').split('.').map(Number);
  if (major !== ABORTING.major || minor === undefined) return null;
  if (minor < ABORTING.fromMinor || minor > ABORTING.toMinor) return null;
  return (
    `Node.js ${nodeVersion.replace(/^v/, '')} aborts processes that use better-sqlite3 12 when a ` +
    `statement is garbage-collected (nodejs/node#65446); run entrasync on Node.js ${SAFE_NODE_VERSIONS}`
  );
}
