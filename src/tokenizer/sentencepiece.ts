/**
 * A SentencePiece BPE tokenizer: `tokenizer.model` (protobuf) or an equivalent vocabulary (GGUF "llama").
 * Encoding is SentencePiece's: normalize, then BPE by piece score (see sp-bpe.ts).
 */
import { TokenizerFormatError, UnsupportedTokenizerError } from './errors.js';
import { SpNormalizer, normalizerOptionsFromSpec, type SpNormalizerOptions } from './normalizer.js';
import { PrefixMatcher } from './prefix-matcher.js';
import { decodeModelProto, type ModelProtoData } from './proto.js';
import { SpBpe } from './sp-bpe.js';
import { spDecode } from './sp-decode.js';
import { PieceType, type DecodeOptions, type EncodeOptions, type Tokenizer } from './types.js';

export interface SentencePieceParams {
  pieces: string[];
  scores: ArrayLike<number>;
  types: ArrayLike<number>;
  normalizer: SpNormalizerOptions;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkSurface?: string;
  addBos?: boolean;
  addEos?: boolean;
  /** GGUF vocabularies may repeat a piece; SentencePiece itself refuses to load such a model. */
  allowDuplicates?: boolean;
  /** The protobuf this came from, kept for re-export. */
  proto?: ModelProtoData;
  source?: string;
}

/** BOS/EOS preferences from tokenizer_config.json (the protobuf has none). */
export interface SpDefaults {
  addBos?: boolean;
  addEos?: boolean;
}

const MODEL_TYPES: Record<number, string> = { 1: 'Unigram', 2: 'BPE', 3: 'Word', 4: 'Char' };

export class SentencePieceTokenizer implements Tokenizer {
  readonly kind = 'sentencepiece-bpe';
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  readonly pieces: readonly string[];
  readonly scores: Float32Array;
  readonly types: Uint8Array;
  readonly normalizer: SpNormalizer;
  readonly bpe: SpBpe;
  readonly proto?: ModelProtoData;
  private readonly specials: PrefixMatcher;
  private readonly unkSurface: string;
  readonly addBosByDefault: boolean;
  readonly addEosByDefault: boolean;

  constructor(p: SentencePieceParams) {
    const n = p.pieces.length;
    if (p.scores.length !== n || p.types.length !== n) {
      throw new TokenizerFormatError(
        `${p.source ?? 'vocabulary'} has ${n} pieces but ${p.scores.length} scores and ${p.types.length} types`,
      );
    }
    this.pieces = p.pieces;
    this.scores = Float32Array.from(p.scores);
    this.types = Uint8Array.from(p.types);
    this.vocabSize = n;
    this.unkId = p.unkId;
    this.bosId = p.bosId;
    this.eosId = p.eosId;
    this.padId = p.padId;
    this.unkSurface = p.unkSurface ?? ' \u2047 ';
    this.addBosByDefault = p.addBos ?? false;
    this.addEosByDefault = p.addEos ?? false;
    this.proto = p.proto;
    this.bpe = new SpBpe({
      pieces: p.pieces,
      scores: this.scores,
      types: this.types,
      unkId: p.unkId,
      byteFallback: p.byteFallback,
    });
    if (this.bpe.duplicates.length > 0 && !p.allowDuplicates) {
      throw new TokenizerFormatError(
        `${p.source ?? 'vocabulary'} defines ${JSON.stringify(this.bpe.duplicates[0])} twice: the model is corrupt`,
      );
    }
    this.normalizer = new SpNormalizer(p.normalizer, this.bpe.userDefined);
    const specials: string[] = [];
    for (let i = 0; i < n; i++) {
      if (this.types[i] === PieceType.Control || this.types[i] === PieceType.Unknown)
        specials.push(p.pieces[i]);
    }
    this.specials = new PrefixMatcher(specials);
  }

  /** Loads `tokenizer.model` bytes. */
  static fromModelBytes(
    bytes: Uint8Array,
    source = 'tokenizer.model',
    defaults: SpDefaults = {},
  ): SentencePieceTokenizer {
    return SentencePieceTokenizer.fromProto(decodeModelProto(bytes, source), source, defaults);
  }

  static fromProto(
    proto: ModelProtoData,
    source = 'tokenizer.model',
    defaults: SpDefaults = {},
  ): SentencePieceTokenizer {
    const ts = proto.trainerSpec;
    const modelType = ts.modelType ?? 1;
    if (modelType !== 2) {
      throw new UnsupportedTokenizerError(
        `${source} is a SentencePiece ${MODEL_TYPES[modelType] ?? `type-${modelType}`} model; only BPE models ` +
          'are supported (MiniCPM and Llama use BPE). Use its tokenizer.json if the model ships one.',
      );
    }
    const pieces = proto.pieces.map((x) => x.piece);
    const types = proto.pieces.map((x) => x.type ?? PieceType.Normal);
    const idOf = (piece: unknown, want: number): number => {
      const i = typeof piece === 'string' ? pieces.indexOf(piece) : -1;
      return i >= 0 && types[i] === want ? i : -1;
    };
    const unkId = types.indexOf(PieceType.Unknown);
    if (unkId < 0) throw new TokenizerFormatError(`${source} has no <unk> piece: the model is corrupt`);
    const byteFallback = ts.byteFallback === true;
    if (!byteFallback && types.includes(PieceType.Byte)) {
      throw new TokenizerFormatError(
        `${source} has byte pieces but byte_fallback is off: the model is corrupt`,
      );
    }
    return new SentencePieceTokenizer({
      pieces,
      scores: proto.pieces.map((x) => x.score ?? 0),
      types,
      normalizer: normalizerOptionsFromSpec(proto.normalizerSpec, ts.treatWhitespaceAsSuffix === true),
      byteFallback,
      unkId,
      bosId: idOf(ts.bosPiece ?? '<s>', PieceType.Control),
      eosId: idOf(ts.eosPiece ?? '</s>', PieceType.Control),
      padId: idOf(ts.padPiece ?? '<pad>', PieceType.Control),
      unkSurface: typeof ts.unkSurface === 'string' ? ts.unkSurface : undefined,
      proto,
      source,
      addBos: defaults.addBos,
      addEos: defaults.addEos,
    });
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.addBos === true && this.bosId >= 0) out.push(this.bosId);
    if (options.parseSpecial && !this.specials.empty) this.encodeWithSpecials(text, out);
    else this.bpe.encodeNormalized(this.normalizer.normalize(text), out);
    if (options.addEos === true && this.eosId >= 0) out.push(this.eosId);
    return out;
  }

  /** Control pieces written in the text become their ids; the text between them is encoded as usual. */
  private encodeWithSpecials(text: string, out: number[]): void {
    let start = 0;
    let first = true;
    for (let i = 0; i < text.length;) {
      const len = this.specials.matchString(text, i);
      if (len === 0) {
        i++;
        continue;
      }
      if (i > start) this.bpe.encodeNormalized(this.normalizer.normalize(text.slice(start, i), first), out);
      out.push(this.pieceToId(text.slice(i, i + len))!);
      first = false;
      i += len;
      start = i;
    }
    if (text.length > start)
      this.bpe.encodeNormalized(this.normalizer.normalize(text.slice(start), first), out);
  }

  encodeAsPieces(text: string, options?: EncodeOptions): string[] {
    return this.encode(text, options).map((id) => this.pieces[id]);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const o = this.normalizer.options;
    return spDecode(
      {
        pieces: this.pieces,
        types: this.types,
        byteValue: (id) => parseInt(this.pieces[id].slice(3, 5), 16),
        unkSurface: this.unkSurface,
        addDummyPrefix: o.addDummyPrefix,
        removeExtraWhitespaces: o.removeExtraWhitespaces,
      },
      ids,
      options.skipSpecial ?? true,
    );
  }

  idToPiece(id: number): string {
    const p = this.pieces[id];
    if (p === undefined)
      throw new RangeError(`id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return p;
  }

  pieceToId(piece: string): number | undefined {
    return this.bpe.reservedIds.get(piece) ?? this.bpe.pieceIds.get(piece);
  }

  isSpecial(id: number): boolean {
    return this.types[id] === PieceType.Control;
  }
}
