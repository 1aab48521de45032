// A bf16 embedding table gives the rows of the same table widened to f32, bit for bit (signs,
// repeated and boundary ids included), on every backend.
import { describe, expect, it } from 'vitest';
import { cast, embedding, noGrad, Rng, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

for (const { name, backend } of backendCases()) {
  describe.skipIf(!backend)(`embedding over a bf16 table (${name})`, () => {
    it('equals the widened table', () => {
      install(backend);
      const rng = new Rng(5);
      const [V, D] = [7, 13];
      const table = Tensor.from(Float32Array.from({ length: V * D }, () => (rng.uniform() - 0.5) * 40), [V, D]);
      const ids = Tensor.from(Int32Array.of(6, 0, 3, 3, 6, 1), [2, 3], 'i32');
      noGrad(() => {
        const bf = cast(table, 'bf16');
        const got = embedding(bf, ids);
        expect(got.dtype).toBe('f32');
        expect(got.shape).toEqual([2, 3, D]);
        expect(got.toArray()).toEqual(embedding(cast(bf, 'f32'), ids).toArray());
      });
    });
  });
}
