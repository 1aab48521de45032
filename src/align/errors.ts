/** Errors of the alignment stage: bad conversation / preference files and impossible settings. */
export class AlignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlignError';
  }
}
