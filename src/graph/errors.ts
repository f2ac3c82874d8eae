/**
 * What can go wrong talking to Graph, sorted by what the caller should do about it. Anything that
 * is not one of these is a bug or an unexpected answer and fails the cycle.
 */

/** The delta token expired (400 syncStateNotFound) or Graph reset the sync (410): enumerate again. */
export class DeltaStateLostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`Graph no longer knows this delta state (HTTP ${status} ${code}); a full enumeration is needed`);
    this.name = 'DeltaStateLostError';
  }
}

/** 401/403: credentials or permissions. Retrying will not help. */
export class GraphAccessError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GraphAccessError';
  }
}

/** 404 on a single-object read. */
export class GraphNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`not found: ${path}`);
    this.name = 'GraphNotFoundError';
  }
}

/** Graph still failed after every retry (throttling, 5xx, dropped connections, garbled pages). */
export class GraphUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphUnavailableError';
  }
}

/** A page or object whose shape is not what Graph documents. */
export class GraphShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphShapeError';
  }
}
