import { describe, expect, it } from 'vitest';
import { QuantShapeError, matrix, matrixFromTensor } from '../../src/quant/index.js';
import { Tensor, f32ToBf16 } from '../../src/tensor/index.js';

describe('matrices at the boundary', () => {
  it('matrix() checks dimensions against the data', () => {
    expect(matrix(new Float32Array(6), 2, 3).rows).toBe(2);
    expect(() => matrix(new Float32Array(5), 2, 3)).toThrow(QuantShapeError);
    expect(() => matrix(new Float32Array(0), -1, 0)).toThrow(QuantShapeError);
  });

  it('matrixFromTensor copies f32, strided and bf16 tensors into Float64', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(Array.from(matrixFromTensor(t).data)).toEqual([1, 2, 3, 4, 5, 6]);
    const transposed = t.view([3, 2], [1, 3], 0);
    expect(Array.from(matrixFromTensor(transposed).data)).toEqual([1, 4, 2, 5, 3, 6]);
    const bf = Tensor.from(Uint16Array.from([1.5, -2, 0.25, 8].map(f32ToBf16)), [2, 2], 'bf16');
    expect(Array.from(matrixFromTensor(bf).data)).toEqual([1.5, -2, 0.25, 8]);
    expect(() => matrixFromTensor(Tensor.zeros([4]))).toThrow(QuantShapeError);
    expect(() => matrixFromTensor(Tensor.zeros([2, 2], 'i32'))).toThrow(QuantShapeError);
  });
});
