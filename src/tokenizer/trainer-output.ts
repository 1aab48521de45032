/**
 * Writing a trained vocabulary: `tokenizer.model` (the SentencePiece protobuf Google's library loads) and a
 * `tokenizer.json` whose BPE merges reproduce SentencePiece's score order for Hugging Face tokenizers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModelProto, type ModelProtoData } from './proto.js';
import type { TrainResult } from './trainer.js';
import { PieceType } from './types.js';

export function trainedModelProto(r: TrainResult): ModelProtoData {
  const o = r.options;
  return {
    pieces: r.pieces.map((p) => ({ piece: p.piece, score: p.score, type: p.type })),
    trainerSpec: {
      modelType: 2,
      vocabSize: r.pieces.length,
      characterCoverage: o.characterCoverage,
      maxSentencepieceLength: o.maxPieceLength,
      splitByUnicodeScript: o.splitByUnicodeScript,
      splitByNumber: o.splitByNumber,
      splitByWhitespace: true,
      splitDigits: o.splitDigits,
      allowWhitespaceOnlyPieces: o.allowWhitespaceOnlyPieces,
      controlSymbols: o.controlSymbols,
      userDefinedSymbols: o.userDefinedSymbols,
      byteFallback: o.byteFallback,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
    },
    normalizerSpec: {
      name: 'identity',
      addDummyPrefix: o.addDummyPrefix,
      removeExtraWhitespaces: o.removeExtraWhitespaces,
      escapeWhitespaces: true,
    },
  };
}

/**
 * tokenizer.json for the same model. Merges: every split of every merged piece into two pieces, ranked by
 * the piece's score, so that "lowest rank first" picks what "highest score first" picks.
 */
export function trainedTokenizerJson(r: TrainResult): Record<string, unknown> {
  const o = r.options;
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const mergeable = new Map<string, number>();
  r.pieces.forEach((p, id) => {
    vocab[p.piece] = id;
    if (p.type === PieceType.Normal) mergeable.set(p.piece, id);
  });
  const merges: [string, string, number, number, number][] = [];
  r.pieces.forEach((p, id) => {
    if (p.type !== PieceType.Normal) return;
    const chars = Array.from(p.piece);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      const li = mergeable.get(left);
      const ri = mergeable.get(right);
      if (li !== undefined && ri !== undefined) merges.push([left, right, id, li, ri]);
    }
  });
  merges.sort((x, y) => x[2] - y[2] || x[3] - y[3] || x[4] - y[4]);
  const normalizers: unknown[] = [];
  if (o.addDummyPrefix) normalizers.push({ type: 'Prepend', prepend: '\u2581' });
  normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '\u2581' });
  const decoders: unknown[] = [
    { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
  ];
  if (o.addDummyPrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: r.pieces
      .map((p, id) => ({ p, id }))
      .filter(
        ({ p }) =>
          p.type === PieceType.Control || p.type === PieceType.Unknown || p.type === PieceType.UserDefined,
      )
      .map(({ p, id }) => ({
        id,
        content: p.piece,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: p.type !== PieceType.UserDefined,
      })),
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: o.byteFallback,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Writes tokenizer.model, tokenizer.json and tokenizer_config.json (MiniCPM-style chat template). */
export function writeTrainedTokenizer(r: TrainResult, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [
    join(dir, 'tokenizer.model'),
    join(dir, 'tokenizer.json'),
    join(dir, 'tokenizer_config.json'),
  ];
  writeFileSync(files[0], encodeModelProto(trainedModelProto(r)));
  writeFileSync(files[1], JSON.stringify(trainedTokenizerJson(r)));
  const config = {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    add_bos_token: true,
    add_eos_token: false,
    legacy: true,
    chat_template:
      "{% for message in messages %}{% if message['role'] == 'user' %}{{'<用户>' + message['content'].strip() + '<AI>'}}" +
      "{% else %}{{message['content'].strip()}}{% endif %}{% endfor %}",
  };
  writeFileSync(files[2], JSON.stringify(config, null, 2));
  return files;
}
