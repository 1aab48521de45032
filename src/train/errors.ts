/** Typed training errors: each says what went wrong and what to do. */
export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainError';
  }
}

/** Loss became NaN/Inf or spiked; the last good checkpoint is kept. */
export class DivergenceError extends TrainError {
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
    this.name = 'DivergenceError';
  }
}
