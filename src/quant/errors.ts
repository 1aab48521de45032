// Typed errors of the quantization layer. Messages say what was wrong and what to do about it.

export class QuantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes or options that cannot work together (a weight that does not match its Hessian, bits 5...). */
export class QuantShapeError extends QuantError {}

/** The damped Hessian (or its inverse) is not positive definite, so Cholesky cannot proceed. */
export class NotPositiveDefiniteError extends QuantError {
  constructor(
    readonly column: number,
    readonly pivot: number,
  ) {
    super(
      `matrix is not positive definite: Cholesky pivot ${pivot} at column ${column}. ` +
        'Use more (or more varied) calibration rows, or raise the damping (damp, e.g. 0.1).',
    );
  }
}

/**
 * AutoGPTQ stores `zero − 1` in a 4-bit field, so a zero point of 0 cannot be written (its −1 would
 * spill into the neighbouring nibbles). Quantizing with `storableZeros: true` avoids such zeros.
 */
export class UnstorableZeroError extends QuantError {
  constructor(
    readonly group: number,
    readonly row: number,
  ) {
    super(
      `group ${group} of output row ${row} has zero point 0, which AutoGPTQ's qzeros (zero − 1) cannot store; ` +
        'quantize with { storableZeros: true } to keep zero points ≥ 1.',
    );
  }
}

/** A quantized checkpoint's tensors or quantize_config.json are missing, mistyped or inconsistent. */
export class QuantFormatError extends QuantError {}
