/** Errors of the mapping stage. */

/** A configuration error found at compile time (start-up): names the mapping, the field and the position. */
export class MappingConfigError extends Error {
  readonly mappingIndex: number;
  readonly field: string;
  /** 1-based character position inside the expression, when the error is inside one. */
  readonly position?: number;

  constructor(message: string, mappingIndex: number, field: string, position?: number) {
    super(message);
    this.name = 'MappingConfigError';
    this.mappingIndex = mappingIndex;
    this.field = field;
    if (position !== undefined) this.position = position;
  }
}

/** One user's evaluation failed (e.g. "maybe" for the boolean target active). */
export class MappingEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingEvaluationError';
  }
}

/** A syntax or static-check error inside one expression; position is 1-based. */
export class ExpressionError extends Error {
  readonly position: number;
  /** The bare description, without the position suffix. */
  readonly detail: string;

  constructor(detail: string, position: number) {
    super(`${detail} at position ${position}`);
    this.name = 'ExpressionError';
    this.detail = detail;
    this.position = position;
  }
}
