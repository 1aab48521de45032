/** Evaluation errors: missing or malformed benchmark files, unknown tasks, bad settings. */
export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}
