/** An error an API client caused: answered with its HTTP status in OpenAI's error shape. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly param: string | null = null,
    readonly type = 'invalid_request_error',
    /** Seconds after which a retry may succeed (sent as Retry-After, e.g. with 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
