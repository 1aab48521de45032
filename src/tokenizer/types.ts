/** The tokenizer contract shared by every model kind (SentencePiece, tokenizer.json, GGUF vocabularies). */

/** SentencePiece piece types; GGUF `tokenizer.ggml.token_type` uses the same numbers. */
export const PieceType = {
  Normal: 1,
  Unknown: 2,
  Control: 3,
  UserDefined: 4,
  Unused: 5,
  Byte: 6,
} as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

export interface EncodeOptions {
  /**
   * Prepend the BOS id. Default false: ids are added only when asked. The model's own preference
   * (tokenizer_config.json add_bos_token, GGUF add_bos_token, a template post-processor) is
   * `Tokenizer.addBosByDefault`; pass `{ addBos: tok.addBosByDefault }` to follow it.
   */
  addBos?: boolean;
  /** Append the EOS id (default false; see `Tokenizer.addEosByDefault`). */
  addEos?: boolean;
  /**
   * Recognise control/special token strings such as `</s>` in the text and emit their ids (default false:
   * user text can never inject control tokens; user-defined pieces are always matched).
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop control/special tokens (`<s>`, `</s>`) from the output (default true, as SentencePiece does). */
  skipSpecial?: boolean;
}

export interface Tokenizer {
  /** 'sentencepiece-bpe' | 'hf-bpe' | 'byte-level-bpe' — which algorithm encodes. */
  readonly kind: string;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  /** What the model's own configuration asks for (transformers' add_special_tokens=True). */
  readonly addBosByDefault: boolean;
  readonly addEosByDefault: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The piece strings of an encoding (SentencePiece `encode(out_type=str)`). */
  encodeAsPieces(text: string, options?: EncodeOptions): string[];
  idToPiece(id: number): string;
  /** The id of a piece, or undefined when it is not in the vocabulary. */
  pieceToId(piece: string): number | undefined;
  /** True for control/special ids (not printed by decode). */
  isSpecial(id: number): boolean;
}

/**
 * A vocabulary in plain data, the common input of every loader (SentencePiece protobuf, GGUF metadata).
 * `model` follows GGUF's `tokenizer.ggml.model` names.
 */
export interface VocabInput {
  /** 'llama' (SentencePiece BPE) or 'gpt2' (byte-level BPE); other names are rejected. */
  model: string;
  tokens: string[];
  scores?: ArrayLike<number>;
  tokenTypes?: ArrayLike<number>;
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos?: boolean;
  addEos?: boolean;
  /** SentencePiece `add_dummy_prefix` (GGUF `tokenizer.ggml.add_space_prefix`). */
  addSpacePrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  /** GGUF `tokenizer.ggml.pre`: the pre-tokenizer regex family of byte-level BPE models. */
  pre?: string;
  chatTemplate?: string;
}
