/** Typed error of the hyper-parameter search; every message says what was wrong and what to do about it. */
export class SearchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SearchError';
  }
}
