/**
 * The SentencePiece model protobuf (`sentencepiece_model.proto`, proto2) as a protobufjs reflection
 * descriptor. Field numbers and defaults follow the real schema, so Google's SentencePiece reads what we
 * write and we read every field it writes.
 */
import protobuf from 'protobufjs';
import { TokenizerFormatError } from './errors.js';

const f = (id: number, type: string, extra: Record<string, unknown> = {}) => ({ id, type, ...extra });
const rep = (id: number, type: string) => ({ id, type, rule: 'repeated' });
const def = (id: number, type: string, value: unknown) => ({ id, type, options: { default: value } });

const descriptor = {
  nested: {
    sentencepiece: {
      nested: {
        TrainerSpec: {
          fields: {
            input: rep(1, 'string'),
            inputFormat: f(7, 'string'),
            modelPrefix: f(2, 'string'),
            modelType: def(3, 'ModelType', 'UNIGRAM'),
            vocabSize: def(4, 'int32', 8000),
            acceptLanguage: rep(5, 'string'),
            selfTestSampleSize: def(6, 'int32', 0),
            enableDifferentialPrivacy: def(50, 'bool', false),
            differentialPrivacyNoiseLevel: def(51, 'float', 0),
            differentialPrivacyClippingThreshold: def(52, 'uint64', 0),
            characterCoverage: def(10, 'float', 0.9995),
            inputSentenceSize: def(11, 'uint64', 0),
            shuffleInputSentence: def(19, 'bool', true),
            miningSentenceSize: f(12, 'int32'),
            trainingSentenceSize: f(13, 'int32'),
            seedSentencepieceSize: def(14, 'int32', 1000000),
            shrinkingFactor: def(15, 'float', 0.75),
            maxSentenceLength: def(18, 'int32', 4192),
            numThreads: def(16, 'int32', 16),
            numSubIterations: def(17, 'int32', 2),
            maxSentencepieceLength: def(20, 'int32', 16),
            splitByUnicodeScript: def(21, 'bool', true),
            splitByNumber: def(23, 'bool', true),
            splitByWhitespace: def(22, 'bool', true),
            treatWhitespaceAsSuffix: def(24, 'bool', false),
            allowWhitespaceOnlyPieces: def(26, 'bool', false),
            splitDigits: def(25, 'bool', false),
            pretokenizationDelimiter: def(53, 'string', ''),
            controlSymbols: rep(30, 'string'),
            userDefinedSymbols: rep(31, 'string'),
            requiredChars: f(36, 'string'),
            byteFallback: def(35, 'bool', false),
            vocabularyOutputPieceScore: def(32, 'bool', true),
            hardVocabLimit: def(33, 'bool', true),
            useAllVocab: def(34, 'bool', false),
            unkId: def(40, 'int32', 0),
            bosId: def(41, 'int32', 1),
            eosId: def(42, 'int32', 2),
            padId: def(43, 'int32', -1),
            unkPiece: def(45, 'string', '<unk>'),
            bosPiece: def(46, 'string', '<s>'),
            eosPiece: def(47, 'string', '</s>'),
            padPiece: def(48, 'string', '<pad>'),
            unkSurface: def(44, 'string', ' \u2047 '),
            trainExtremelyLargeCorpus: def(49, 'bool', false),
          },
          nested: { ModelType: { values: { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } } },
        },
        NormalizerSpec: {
          fields: {
            name: f(1, 'string'),
            precompiledCharsmap: f(2, 'bytes'),
            addDummyPrefix: def(3, 'bool', true),
            removeExtraWhitespaces: def(4, 'bool', true),
            escapeWhitespaces: def(5, 'bool', true),
            normalizationRuleTsv: f(6, 'string'),
          },
        },
        SelfTestData: {
          fields: { samples: { id: 1, type: 'Sample', rule: 'repeated' } },
          nested: { Sample: { fields: { input: f(1, 'string'), expected: f(2, 'string') } } },
        },
        ModelProto: {
          fields: {
            pieces: { id: 1, type: 'SentencePiece', rule: 'repeated' },
            trainerSpec: f(2, 'TrainerSpec'),
            normalizerSpec: f(3, 'NormalizerSpec'),
            selfTestData: f(4, 'SelfTestData'),
            denormalizerSpec: f(5, 'NormalizerSpec'),
          },
          nested: {
            SentencePiece: {
              fields: { piece: f(1, 'string'), score: f(2, 'float'), type: def(3, 'Type', 'NORMAL') },
              nested: {
                Type: { values: { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6, UNUSED: 5 } },
              },
            },
          },
        },
      },
    },
  },
};

// protobufjs reads JSON descriptors as proto3 unless told otherwise; proto2 presence is what keeps an
// explicit `add_dummy_prefix: false` from turning back into its default `true`.
function markProto2(node: Record<string, unknown>): void {
  if ('fields' in node) node.edition = 'proto2';
  const nested = node.nested as Record<string, Record<string, unknown>> | undefined;
  if (nested) for (const child of Object.values(nested)) markProto2(child);
}
markProto2(descriptor);
const root = protobuf.Root.fromJSON(descriptor);
const ModelProtoType = root.lookupType('sentencepiece.ModelProto');

export interface ProtoPiece {
  piece: string;
  score: number;
  /** SentencePiece type number (1 normal … 6 byte). */
  type: number;
}

/** Plain-object view of the fields we use; the rest of TrainerSpec is kept verbatim in `trainerSpec`. */
export interface TrainerSpecData {
  modelType?: number;
  vocabSize?: number;
  byteFallback?: boolean;
  unkSurface?: string;
  treatWhitespaceAsSuffix?: boolean;
  [field: string]: unknown;
}

export interface NormalizerSpecData {
  name?: string;
  precompiledCharsmap?: Uint8Array;
  addDummyPrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  escapeWhitespaces?: boolean;
  normalizationRuleTsv?: string;
}

export interface ModelProtoData {
  pieces: ProtoPiece[];
  trainerSpec: TrainerSpecData;
  normalizerSpec: NormalizerSpecData;
  denormalizerSpec?: NormalizerSpecData;
}

/** Parses `tokenizer.model` bytes; proto2 defaults are filled in for absent fields. */
export function decodeModelProto(bytes: Uint8Array, source = 'tokenizer.model'): ModelProtoData {
  let msg: protobuf.Message;
  try {
    msg = ModelProtoType.decode(bytes);
  } catch (e) {
    throw new TokenizerFormatError(
      `${source} is not a SentencePiece model protobuf (${(e as Error).message}): the file is corrupt or ` +
        'truncated; download it again, or pass a tokenizer.json / GGUF file instead',
    );
  }
  const obj = ModelProtoType.toObject(msg, {
    defaults: true,
    enums: Number,
    longs: Number,
    bytes: Uint8Array,
  });
  const pieces = (obj.pieces as ProtoPiece[] | undefined) ?? [];
  if (pieces.length === 0) {
    throw new TokenizerFormatError(
      `${source} has no pieces: it is not a SentencePiece model (or it is truncated)`,
    );
  }
  const hasDenorm = (msg as unknown as Record<string, unknown>).denormalizerSpec != null;
  return {
    pieces,
    trainerSpec: (obj.trainerSpec as TrainerSpecData | null) ?? defaultsOf('sentencepiece.TrainerSpec'),
    normalizerSpec:
      (obj.normalizerSpec as NormalizerSpecData | null) ?? defaultsOf('sentencepiece.NormalizerSpec'),
    denormalizerSpec: hasDenorm ? (obj.denormalizerSpec as NormalizerSpecData) : undefined,
  };
}

function defaultsOf(typeName: string): Record<string, unknown> {
  const t = root.lookupType(typeName);
  return t.toObject(t.create({}), { defaults: true, enums: Number, longs: Number, bytes: Uint8Array });
}

/** Serialises a model; only fields present in the given objects are written (proto2 presence). */
export function encodeModelProto(model: ModelProtoData): Uint8Array {
  const payload: Record<string, unknown> = {
    pieces: model.pieces.map((p) => ({ piece: p.piece, score: p.score, type: p.type })),
    trainerSpec: model.trainerSpec,
    normalizerSpec: model.normalizerSpec,
  };
  if (model.denormalizerSpec) payload.denormalizerSpec = model.denormalizerSpec;
  const err = ModelProtoType.verify(payload);
  if (err) throw new TokenizerFormatError(`cannot write tokenizer.model: ${err}`);
  return ModelProtoType.encode(ModelProtoType.fromObject(payload)).finish();
}
