/**
 * Tokenizers embedded in GGUF files. The tokenizer layer does not read GGUF itself (io/ does); it takes the
 * metadata as a plain `Map<string, unknown>` (arrays as JS arrays or typed arrays, ints as numbers/bigints).
 */
import { PRE_TOKENIZER_PATTERNS } from './byte-level.js';
import { TokenizerFormatError, UnsupportedTokenizerError } from './errors.js';
import { SentencePieceTokenizer } from './sentencepiece.js';
import { HfTokenizer } from './tokenizer-json.js';
import { PieceType, type Tokenizer, type VocabInput } from './types.js';

const num = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const arr = <T>(v: unknown): T[] | undefined =>
  Array.isArray(v)
    ? (v as T[])
    : ArrayBuffer.isView(v)
      ? Array.from(v as unknown as ArrayLike<T>)
      : undefined;

/** io/gguf keeps values typed as `{type, value}`; plain values are accepted too. */
function plain(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'type' in v && 'value' in v
    ? (v as { value: unknown }).value
    : v;
}

/** Reads the `tokenizer.ggml.*` keys. */
export function vocabFromGgufMetadata(meta: Map<string, unknown>): VocabInput {
  const k = (name: string) => plain(meta.get(`tokenizer.ggml.${name}`));
  const model = k('model');
  const tokens = arr<string>(k('tokens'));
  if (typeof model !== 'string' || !tokens) {
    throw new TokenizerFormatError(
      'GGUF file has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens missing): pass a tokenizer.model or tokenizer.json',
    );
  }
  return {
    model,
    tokens,
    scores: arr<number>(k('scores')),
    tokenTypes: arr<number>(k('token_type')),
    merges: arr<string>(k('merges')),
    bosId: num(k('bos_token_id')),
    eosId: num(k('eos_token_id')),
    unkId: num(k('unknown_token_id')),
    padId: num(k('padding_token_id')),
    addBos: bool(k('add_bos_token')),
    addEos: bool(k('add_eos_token')),
    addSpacePrefix: bool(k('add_space_prefix')),
    removeExtraWhitespaces: bool(k('remove_extra_whitespaces')),
    pre: typeof k('pre') === 'string' ? (k('pre') as string) : undefined,
    chatTemplate:
      typeof plain(meta.get('tokenizer.chat_template')) === 'string'
        ? (plain(meta.get('tokenizer.chat_template')) as string)
        : undefined,
  };
}

/** Builds the tokenizer a vocabulary describes: "llama" → SentencePiece BPE, "gpt2" → byte-level BPE. */
export function tokenizerFromVocab(v: VocabInput): Tokenizer {
  const n = v.tokens.length;
  const types = v.tokenTypes ? Array.from(v.tokenTypes) : new Array<number>(n).fill(PieceType.Normal);
  if (v.model === 'llama') {
    const scores = v.scores ? Array.from(v.scores) : new Array<number>(n).fill(0);
    let unkId = v.unkId ?? types.indexOf(PieceType.Unknown);
    if (unkId >= 0 && types[unkId] !== PieceType.Unknown) types[unkId] = PieceType.Unknown;
    if (unkId < 0) unkId = 0;
    return new SentencePieceTokenizer({
      pieces: v.tokens,
      scores,
      types,
      normalizer: {
        addDummyPrefix: v.addSpacePrefix ?? true,
        removeExtraWhitespaces: v.removeExtraWhitespaces ?? false,
        escapeWhitespaces: true,
        treatWhitespaceAsSuffix: false,
      },
      byteFallback: types.includes(PieceType.Byte),
      unkId,
      bosId: v.bosId ?? -1,
      eosId: v.eosId ?? -1,
      padId: v.padId ?? -1,
      addBos: v.addBos ?? true,
      addEos: v.addEos ?? false,
      allowDuplicates: true,
      source: 'GGUF vocabulary',
    });
  }
  if (v.model === 'gpt2') {
    if (!v.merges) throw new TokenizerFormatError('GGUF gpt2 vocabulary has no tokenizer.ggml.merges');
    const patterns = PRE_TOKENIZER_PATTERNS[v.pre ?? 'default'];
    if (!patterns) {
      throw new UnsupportedTokenizerError(
        `GGUF pre-tokenizer "${v.pre}" is not supported (known: ${Object.keys(PRE_TOKENIZER_PATTERNS).join(', ')})`,
      );
    }
    const vocab = Object.create(null) as Record<string, number>; // tokens such as "toString" must not hit Object.prototype
    v.tokens.forEach((t, i) => {
      if (!(t in vocab)) vocab[t] = i;
    });
    const added = v.tokens
      .map((t, i) => ({ t, i, type: types[i] }))
      .filter((x) => x.type === PieceType.Control || x.type === PieceType.UserDefined)
      .map((x) => ({ id: x.i, content: x.t, special: x.type === PieceType.Control, normalized: false }));
    const json = {
      added_tokens: added,
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          ...patterns.map((p) => ({
            type: 'Split',
            pattern: { Regex: p },
            behavior: 'Isolated',
            invert: false,
          })),
          { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
        ],
      },
      decoder: { type: 'ByteLevel' },
      model: { type: 'BPE', vocab, merges: v.merges, unk_token: null, byte_fallback: false },
    };
    const at = (id: number | undefined) => (id !== undefined && id >= 0 && id < n ? v.tokens[id] : undefined);
    return new HfTokenizer(json, {
      bosToken: at(v.bosId),
      eosToken: at(v.eosId),
      padToken: at(v.padId),
      addBos: v.addBos ?? false,
      addEos: v.addEos ?? false,
      source: 'GGUF vocabulary',
    });
  }
  throw new UnsupportedTokenizerError(
    `GGUF tokenizer model "${v.model}" is not supported (llama = SentencePiece BPE and gpt2 = byte-level BPE are)`,
  );
}

export function tokenizerFromGgufMetadata(meta: Map<string, unknown>): Tokenizer {
  return tokenizerFromVocab(vocabFromGgufMetadata(meta));
}
