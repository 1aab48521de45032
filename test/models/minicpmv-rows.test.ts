/**
 * Image rows of packed prefill passes (the server's scheduler): chunkImageRows hands each chunk the
 * part of every span it holds, and overwriting chunk by chunk gives the rows spliceImages gives the
 * whole prompt at once.
 */
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import {
  chunkImageRows,
  overwriteRows,
  spliceImages,
  ImageSpanError,
  type PromptImage,
} from '../../src/models/minicpmv-splice.js';
import { concat, Rng, slice, Tensor } from '../../src/tensor/index.js';

useBackend('auto');
const rng = new Rng(3);
const rand = (shape: number[]) =>
  Tensor.from(
    Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal()),
    shape,
  );

describe('packed image rows', () => {
  const Q = 4;
  const a: PromptImage = { start: 3, tokens: rand([1, Q, 6]) };
  const b: PromptImage = { start: 9, tokens: rand([1, Q, 6]) };

  it('gives each chunk the overlap of every span, at its row in the pass', () => {
    expect(chunkImageRows([a, b], 0, 5, 2)).toEqual([{ row: 5, tokens: a.tokens, from: 0, count: 2 }]);
    expect(chunkImageRows([a, b], 5, 5, 0)).toEqual([
      { row: 0, tokens: a.tokens, from: 2, count: 2 },
      { row: 4, tokens: b.tokens, from: 0, count: 1 },
    ]);
    expect(chunkImageRows([a, b], 13, 3, 7)).toEqual([]);
  });

  it('chunk by chunk equals the whole-prompt splice', () => {
    // ids: <s> x x <image> 4×unk </image> x <image> ... laid out so the spans start at 3 and 9
    const ids = [1, 5, 101, 0, 0, 0, 0, 102, 101, 0, 0, 0, 0, 102, 7, 8];
    const T = ids.length;
    const embeds = rand([1, T, 6]);
    const want = spliceImages(embeds, ids, [[a.tokens, b.tokens]], Q);
    const parts = [];
    for (let pos = 0; pos < T; pos += 5) {
      const n = Math.min(5, T - pos);
      parts.push(overwriteRows(slice(embeds, 1, pos, pos + n), chunkImageRows([a, b], pos, n, 0)));
    }
    expect(Array.from(concat(parts, 1).toArray())).toEqual(Array.from(want.toArray()));
  });

  it('refuses rows outside the pass or of the wrong width', () => {
    const x = rand([1, 5, 6]);
    expect(() => overwriteRows(x, [{ row: 3, tokens: a.tokens, from: 0, count: 3 }])).toThrow(ImageSpanError);
    expect(() => overwriteRows(x, [{ row: 0, tokens: rand([1, Q, 5]), from: 0, count: 2 }])).toThrow(
      /5 wide/,
    );
  });
});
