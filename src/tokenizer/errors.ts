/** Typed errors of the tokenizer; messages say what was wrong and what to do. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** A tokenizer file could not be parsed (truncated, corrupt, or of another format). */
export class TokenizerFormatError extends TokenizerError {}
/** The file parsed but asks for something we do not implement (e.g. a Unigram model). */
export class UnsupportedTokenizerError extends TokenizerError {}
/** Bad arguments to training (vocabulary too small, no input, ...). */
export class TrainerError extends TokenizerError {}
/** A chat conversation that cannot be rendered (unknown role, bad order, template failure). */
export class ChatTemplateError extends TokenizerError {}
