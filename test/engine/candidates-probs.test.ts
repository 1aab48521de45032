/**
 * The candidate set's probabilities over a vocabulary-sized row: with the native backend installed
 * they come from the addon's softmax straight between the buffers, and must equal the tensor
 * softmax bit for bit (the path they replaced); on the reference backend, the tensor path.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBackend, useBackend } from '../../src/backends/index.js';
import { Candidates } from '../../src/engine/candidates.js';
import { noGrad, Rng, scope, softmax, Tensor } from '../../src/tensor/index.js';

afterAll(() => useBackend('auto'));

function row(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * 3);
}

function tensorSoftmax(x: Float32Array): Float32Array {
  return noGrad(() =>
    scope(() => {
      const y = softmax(Tensor.from(x.slice(), [1, x.length]));
      return (y.data as Float32Array).slice(y.offset, y.offset + x.length);
    }),
  );
}

describe('Candidates.computeProbs', () => {
  for (const choice of ['native', 'ref'] as const) {
    it.skipIf(choice === 'native' && !nativeBackend())(
      `equals the ${choice} backend's softmax bit for bit (122,753 and 4,097 logits)`,
      () => {
        useBackend(choice);
        for (const [n, seed] of [
          [122753, 1],
          [4097, 2],
        ]) {
          const x = row(n, seed);
          x[7] = -Infinity; // a banned token
          const c = new Candidates(n);
          c.load(x);
          c.computeProbs();
          const want = tensorSoftmax(x);
          expect(
            Buffer.compare(Buffer.from(c.probs.buffer, 0, 4 * n), Buffer.from(want.buffer, 0, 4 * n)),
          ).toBe(0);
          expect(c.probs[7]).toBe(0);
        }
      },
    );
  }
});
