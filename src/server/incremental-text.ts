/**
 * Incremental detokenization: the text of each new token without re-decoding the whole output.
 * Decoding a token alone is wrong in general (SentencePiece drops a leading space at the start of a
 * decode; byte-fallback pieces complete a UTF-8 character only together), so two short windows are
 * decoded — from `prefix` to `read` (already emitted) and from `prefix` to the end — and the
 * difference is the new text (the scheme of Hugging Face's text-generation-inference). A window ending
 * in an unfinished character (U+FFFD) emits nothing until the character completes.
 */
import type { Tokenizer } from '../tokenizer/index.js';

export class IncrementalText {
  private readonly ids: number[] = [];
  /** Start of the decode window: a few tokens before `read`, for context. */
  private prefix = 0;
  /** Tokens whose text has been emitted. */
  private read = 0;

  constructor(private readonly tok: Tokenizer) {}

  /** Appends a token; returns the text that became final (possibly ''). */
  push(id: number): string {
    this.ids.push(id);
    const done = this.tok.decode(this.ids.slice(this.prefix, this.read));
    const all = this.tok.decode(this.ids.slice(this.prefix));
    if (all.length <= done.length || all.endsWith('\uFFFD')) return '';
    this.prefix = this.read;
    this.read = this.ids.length;
    return all.slice(done.length);
  }

  /** Whatever is still held back (an unfinished character at the very end), as decode gives it. */
  flush(): string {
    const done = this.tok.decode(this.ids.slice(this.prefix, this.read));
    const all = this.tok.decode(this.ids.slice(this.prefix));
    this.prefix = this.read = this.ids.length;
    return all.length > done.length ? all.slice(done.length) : '';
  }

  get tokenCount(): number {
    return this.ids.length;
  }
}
