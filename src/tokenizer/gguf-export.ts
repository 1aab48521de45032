/**
 * Tokenizer → GGUF vocabulary (the `tokenizer.ggml.*` data llama.cpp reads). Returns plain data shaped
 * like io/gguf-minicpm's GgufTokenizer; this layer does not import io.
 */
import { TokenizerError } from './errors.js';
import { SentencePieceTokenizer } from './sentencepiece.js';
import { PieceType, type Tokenizer } from './types.js';

export interface GgufVocab {
  model: 'llama';
  tokens: string[];
  scores: Float32Array;
  tokenTypes: Int32Array;
  bosId: number;
  eosId: number;
  unkId: number;
  padId?: number;
  addBos: boolean;
  addEos: boolean;
  /** SentencePiece add_dummy_prefix / remove_extra_whitespaces (GGUF add_space_prefix, remove_extra_whitespaces). */
  addSpacePrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  chatTemplate?: string;
}

/**
 * The vocabulary of a SentencePiece tokenizer, as llama.cpp's converter writes it (model "llama":
 * pieces, scores, SentencePiece piece types — the same numbers as GGUF token types). `vocabSize` is the
 * model's embedding rows: llama.cpp requires exactly that many tokens, so a shorter vocabulary is padded
 * with unused `[PAD{i}]` pieces (as the converter does); a longer one is an error.
 */
export function ggufVocabFromTokenizer(
  tok: Tokenizer,
  vocabSize: number,
  opts: { chatTemplate?: string } = {},
): GgufVocab {
  if (!(tok instanceof SentencePieceTokenizer)) {
    throw new TokenizerError(
      `GGUF export supports SentencePiece tokenizers (tokenizer.model); this one is '${tok.kind}'`,
    );
  }
  const n = tok.pieces.length;
  if (n > vocabSize) {
    throw new TokenizerError(
      `the tokenizer has ${n} pieces but the model's vocab_size is ${vocabSize}: they do not belong together`,
    );
  }
  const tokens = new Array<string>(vocabSize);
  const scores = new Float32Array(vocabSize);
  const tokenTypes = new Int32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    if (i < n) {
      tokens[i] = tok.pieces[i];
      scores[i] = tok.scores[i];
      tokenTypes[i] = tok.types[i] || PieceType.Normal;
    } else {
      tokens[i] = `[PAD${i}]`;
      scores[i] = -1000;
      tokenTypes[i] = PieceType.Unused;
    }
  }
  return {
    model: 'llama',
    tokens,
    scores,
    tokenTypes,
    bosId: tok.bosId,
    eosId: tok.eosId,
    unkId: tok.unkId,
    ...(tok.padId >= 0 && tok.padId < vocabSize ? { padId: tok.padId } : {}),
    addBos: tok.addBosByDefault,
    addEos: tok.addEosByDefault,
    addSpacePrefix: tok.normalizer.options.addDummyPrefix,
    removeExtraWhitespaces: tok.normalizer.options.removeExtraWhitespaces,
    ...(opts.chatTemplate !== undefined ? { chatTemplate: opts.chatTemplate } : {}),
  };
}

/**
 * A placeholder vocabulary for models trained without a tokenizer (the tiny test fixtures work on raw
 * ids). llama.cpp refuses a GGUF without tokenizer.ggml.tokens, so we write `<unk>`, `<s>`, `</s>` at
 * 0/1/2 (unknown/control types, as SentencePiece does), then byte pieces `<0x00>`, `<0x01>`, … of BYTE
 * type for as many ids as remain (up to 256; llama.cpp looks up `<0x0A>` for the newline token), and
 * normal pieces `<t{i}>` past that. Text encoding with it is meaningless; ids are what matter.
 */
export function syntheticGgufVocab(vocabSize: number, ids: { bos?: number; eos?: number } = {}): GgufVocab {
  if (vocabSize < 3) throw new TokenizerError(`vocab_size ${vocabSize} is too small for <unk>, <s>, </s>`);
  const tokens = new Array<string>(vocabSize);
  const scores = new Float32Array(vocabSize);
  const tokenTypes = new Int32Array(vocabSize);
  const specials: [string, number][] = [
    ['<unk>', PieceType.Unknown],
    ['<s>', PieceType.Control],
    ['</s>', PieceType.Control],
  ];
  for (let i = 0; i < vocabSize; i++) {
    if (i < 3) {
      [tokens[i], tokenTypes[i]] = specials[i];
    } else if (i - 3 < 256) {
      tokens[i] = `<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>`;
      tokenTypes[i] = PieceType.Byte;
    } else {
      tokens[i] = `<t${i}>`;
      tokenTypes[i] = PieceType.Normal;
      scores[i] = -i;
    }
  }
  return {
    model: 'llama',
    tokens,
    scores,
    tokenTypes,
    unkId: 0,
    bosId: ids.bos ?? 1,
    eosId: ids.eos ?? 2,
    addBos: false,
    addEos: false,
  };
}
