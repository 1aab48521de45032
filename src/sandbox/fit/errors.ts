/** Typed error of the fitting library; every message says what was wrong and what to do about it. */
export class FitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FitError';
  }
}
