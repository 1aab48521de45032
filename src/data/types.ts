/** Shapes shared across the data layer: what a tokenizer must offer, and what a document is. */

/**
 * The part of a tokenizer the data layer needs. Any object with these members works (the SentencePiece
 * tokenizer of `tokenizer/`, a byte-level encoder in tests), so data/ does not depend on one implementation.
 */
export interface TextEncoder {
  /** Ids of the text alone: no BOS/EOS (the packer adds them). */
  encode(text: string): number[];
  bosId: number;
  eosId: number;
  vocabSize: number;
}

/** Same contract under a name that does not shadow the global WHATWG `TextEncoder`. */
export type TokenEncoder = TextEncoder;

/** A document as a source yields it, before cleaning. */
export interface RawDoc {
  text: string;
  /** Stable id within its source (file path, row number...); the builder numbers documents without one. */
  id?: string;
  /** Small structured extras kept next to the text in the JSONL (title, author, instruction fields). */
  meta?: Record<string, unknown>;
}

/** One line of a built source's `*.train.jsonl` / `*.val.jsonl`. */
export interface DocRecord {
  id: string;
  text: string;
  meta?: Record<string, unknown>;
}

/** Progress and messages of long-running steps go here (stderr in the CLI, nowhere in tests). */
export type Log = (line: string) => void;

export const silent: Log = () => {};
