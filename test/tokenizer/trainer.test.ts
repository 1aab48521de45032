import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as tokenizersJs from '@huggingface/tokenizers';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrainerError } from '../../src/tokenizer/errors.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { HfTokenizer } from '../../src/tokenizer/tokenizer-json.js';
import { trainBpe, trainBpeFromFiles } from '../../src/tokenizer/trainer.js';
import {
  trainedModelProto,
  trainedTokenizerJson,
  writeTrainedTokenizer,
} from '../../src/tokenizer/trainer-output.js';
import { PieceType } from '../../src/tokenizer/types.js';
import { SHARED_TOK, TRAIN_TEXT, hasShared, readJsonl } from './helpers.js';

const result = await trainBpe(TRAIN_TEXT, { vocabSize: 500, userDefinedSymbols: ['\n', '\t', '<table>'] });
const dir = mkdtempSync(join(tmpdir(), 'minicpm-tok-'));
writeTrainedTokenizer(result, dir);
const sp = SentencePieceTokenizer.fromModelBytes(readFileSync(join(dir, 'tokenizer.model')));
const hf = new HfTokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')));
const probes = [
  ...TRAIN_TEXT.slice(0, 8),
  'unseen words: zebra quixotic 𝔘𝔫𝔦 ☃ 😀',
  '  two  spaces and\ttab\nnewline <table> 12345',
  '日本語のテキスト 한국어',
  '',
  ' ',
];
const extra = hasShared
  ? readJsonl<{ text: string }>(join(SHARED_TOK, 'minicpm-2b', 'expected.jsonl')).map((e) => e.text)
  : [];

describe('BPE training', () => {
  it('lays out the vocabulary like MiniCPM: <unk> <s> </s>, user-defined, bytes, merges, characters', () => {
    const p = result.pieces;
    expect(p.length).toBe(500);
    expect(p.slice(0, 6).map((x) => x.piece)).toEqual(['<unk>', '<s>', '</s>', '\n', '\t', '<table>']);
    expect(p.slice(0, 6).map((x) => x.type)).toEqual([2, 3, 3, 4, 4, 4]);
    expect(p[6].piece).toBe('<0x00>');
    expect(p[261].piece).toBe('<0xFF>');
    expect(p.slice(6, 262).every((x) => x.type === PieceType.Byte)).toBe(true);
    const normal = p.slice(262);
    expect(normal.every((x) => x.type === PieceType.Normal)).toBe(true);
    normal.forEach((x, i) => expect(x.score).toBe(-i));
    expect(new Set(p.map((x) => x.piece)).size).toBe(p.length);
  });

  it('keeps pieces valid: length, whitespace only as a prefix, lone digits, one script', () => {
    for (const { piece } of result.pieces.slice(262)) {
      const chars = Array.from(piece);
      expect(chars.length).toBeLessThanOrEqual(16);
      if (chars.length > 1) expect(/[0-9]/.test(piece), piece).toBe(false);
      const allWs = chars.every((c) => c === '\u2581');
      if (!allWs) expect(chars.slice(1).includes('\u2581'), piece).toBe(false);
      const body = piece.replace(/^\u2581+/, '');
      expect(/\p{Script=Han}/u.test(body) && /\p{Script=Latin}/u.test(body), piece).toBe(false);
    }
  });

  it('writes a tokenizer.model that loads and round-trips any text (byte fallback)', () => {
    for (const t of [...probes, ...extra]) expect(sp.decode(sp.encode(t))).toBe(t);
    expect(sp.encode('<table>x')[0]).toBe(5);
    expect(sp.encode('☃').every((id) => sp.idToPiece(id).startsWith('<0x'))).toBe(true);
  });

  it('writes a tokenizer.json whose merges reproduce the SentencePiece segmentation', () => {
    for (const t of [...probes, ...extra]) expect(hf.encode(t), JSON.stringify(t)).toEqual(sp.encode(t));
    expect(hf.decode(hf.encode(probes[9]))).toBe(probes[9]);
  });

  it('compresses its own training text', () => {
    const text = TRAIN_TEXT.join('\n');
    expect(Buffer.byteLength(text) / sp.encode(text).length).toBeGreaterThan(2.5);
  });

  it('trains from files and reports progress', async () => {
    const f = join(dir, 'corpus.txt');
    writeFileSync(f, TRAIN_TEXT.join('\n'));
    const phases = new Set<string>();
    const r = await trainBpeFromFiles([f], { vocabSize: 480, onProgress: (p) => phases.add(p.phase) });
    expect(r.pieces.length).toBe(480);
    expect([...phases]).toEqual(expect.arrayContaining(['read', 'count', 'merge', 'done']));
    expect(trainedModelProto(r).trainerSpec.vocabSize).toBe(480);
    // A text too small for the vocabulary stops when no pair is left (SentencePiece would refuse).
    const small = await trainBpeFromFiles([f], { vocabSize: 5000 });
    expect(small.pieces.length).toBeLessThan(5000);
    expect(small.stats.merges).toBeGreaterThan(100);
    expect((trainedTokenizerJson(r).model as { merges: string[] }).merges.length).toBeGreaterThan(0);
  });

  it('refuses impossible settings with a message that says what to do', async () => {
    await expect(trainBpe(TRAIN_TEXT, { vocabSize: 50 })).rejects.toThrow(/increase --vocab-size/);
    await expect(trainBpe([], { vocabSize: 1000 })).rejects.toThrow(TrainerError);
    await expect(trainBpe(TRAIN_TEXT, { vocabSize: 1000, characterCoverage: 2 })).rejects.toThrow(
      TrainerError,
    );
  });
});

// Optional cross-checks against the reference implementations; they skip visibly when absent.
const python = '/usr/bin/python3';
const hasSentencePiece = spawnSync(python, ['-c', 'import sentencepiece'], { encoding: 'utf8' }).status === 0;
if (!hasSentencePiece)
  console.warn(
    '[tokenizer tests] python3-sentencepiece not installed: Google SentencePiece cross-check skipped',
  );

describe.skipIf(!hasSentencePiece)('cross-check: Google SentencePiece loads our tokenizer.model', () => {
  it('encodes the probes to our ids', () => {
    const texts = [...probes, ...extra];
    const script =
      'import json,sys,sentencepiece as s\n' +
      'sp=s.SentencePieceProcessor(model_file=sys.argv[1])\n' +
      'print(json.dumps([sp.encode(t) for t in json.load(open(sys.argv[2], encoding="utf-8"))]))';
    writeFileSync(join(dir, 'probes.json'), JSON.stringify(texts));
    const r = spawnSync(python, ['-c', script, join(dir, 'tokenizer.model'), join(dir, 'probes.json')], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(texts.map((t) => sp.encode(t)));
  });
});

// tokenizers.js is the tokenizer library inside transformers.js (a devDependency, so this always runs).
// Its published .d.ts files use extensionless relative imports that NodeNext cannot follow, so the one
// constructor used here is typed locally.
type TokenizersJs = new (json: object, config: object) => {
  encode(text: string, o: { add_special_tokens: boolean }): { ids: number[] };
};
const Tokenizer = (tokenizersJs as unknown as { Tokenizer: TokenizersJs }).Tokenizer;

describe('cross-check: tokenizers.js (transformers.js) loads our tokenizer.json', () => {
  it('encodes the probes to our ids', () => {
    const t = new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as object, {});
    for (const text of [...probes, ...extra].filter((x) => x !== '')) {
      expect(t.encode(text, { add_special_tokens: false }).ids, JSON.stringify(text)).toEqual(sp.encode(text));
    }
  });
});
