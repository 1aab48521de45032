// Typed errors of the checkpoint formats layer. Every message names the file, says what is wrong and,
// where there is one, what to do about it, so a user never has to read our source to fix their input.

/** A file is not a valid checkpoint of the expected format (bad magic, truncated, inconsistent header...). */
export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/** A pickle asked for a Python global outside the allow-list; nothing was executed or constructed. */
export class UnsafePickleError extends CheckpointFormatError {
  override name = 'UnsafePickleError';
  constructor(
    path: string,
    readonly global: string,
  ) {
    super(
      path,
      `the pickle references the Python global '${global}', which is not allowed in a state dict ` +
        `(only collections.OrderedDict, torch._utils._rebuild_* and torch storage/dtype classes are). ` +
        `The file may be malicious; if you trust it, convert it to safetensors with PyTorch first.`,
    );
  }
}

/** A tensor name that the checkpoint does not contain. */
export class TensorNotFoundError extends CheckpointFormatError {
  override name = 'TensorNotFoundError';
  constructor(
    path: string,
    readonly tensorName: string,
    available: readonly string[],
  ) {
    const shown = available.slice(0, 8).join(', ');
    const more = available.length > 8 ? `, ... (${available.length} in all)` : '';
    super(path, `no tensor named '${tensorName}'; the file has: ${shown}${more}`);
  }
}

/** A GGUF metadata key that is missing or has another type than the caller needs. */
export class GgufKeyError extends CheckpointFormatError {
  override name = 'GgufKeyError';
  constructor(
    path: string,
    readonly key: string,
    message: string,
  ) {
    super(path, message);
  }
}
