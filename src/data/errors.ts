// Typed errors of the data layer. Each message names the file or source at fault and says what to do.

/** Base class: anything wrong with data sources, the corpus, mixtures, shards or the loader. */
export class DataError extends Error {
  override name = 'DataError';
}

/** A local source (text, JSONL, Parquet) cannot be read as documents. */
export class SourceError extends DataError {
  override name = 'SourceError';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

/** The built-in corpus could not be installed or assembled. */
export class CorpusError extends DataError {
  override name = 'CorpusError';
}

/** A mixture file is malformed or names sources that do not exist. */
export class MixtureError extends DataError {
  override name = 'MixtureError';
}

/** A shard folder is missing, corrupt, or was prepared with another tokenizer. */
export class ShardError extends DataError {
  override name = 'ShardError';
}

/** A long step was stopped through its AbortSignal (Ctrl-C); finished work is kept for the next run. */
export class InterruptedError extends DataError {
  override name = 'InterruptedError';
}

/** The packed loader cannot serve the requested batches or restore a cursor. */
export class LoaderError extends DataError {
  override name = 'LoaderError';
}
