/** Incremental detokenization: the concatenated deltas equal decoding all ids at once. */
import { describe, expect, it } from 'vitest';
import { IncrementalText } from '../../src/server/incremental-text.js';
import { Rng } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);

describe('incremental detokenization', () => {
  it('deltas of encoded text rebuild the decode, multi-byte characters included', () => {
    for (const text of [
      'Hello world, the sea is calm.',
      '床前明月光，疑是地上霜。 naïve café 🙂 ok',
      '  two  spaces',
    ]) {
      const ids = tok.encode(text);
      const inc = new IncrementalText(tok);
      const deltas = ids.map((id) => inc.push(id));
      const joined = deltas.join('') + inc.flush();
      expect(joined).toBe(tok.decode(ids));
      expect(deltas.every((d) => !d.includes('\uFFFD'))).toBe(true);
    }
  });

  it('random id streams (byte pieces cut mid-character) rebuild the decode', () => {
    const rng = new Rng(2);
    for (let trial = 0; trial < 20; trial++) {
      const ids = Array.from({ length: 60 }, () => rng.int(tok.vocabSize));
      const inc = new IncrementalText(tok);
      const joined = ids.map((id) => inc.push(id)).join('') + inc.flush();
      expect(joined).toBe(tok.decode(ids));
    }
  });
});
