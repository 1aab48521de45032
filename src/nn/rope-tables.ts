/**
 * Rotary tables cos/sin [positions, D/2], computed in float64 and stored f32. Scaling follows the
 * Hugging Face rules: 'linear' divides positions by the factor; 'dynamic' (NTK) enlarges the base
 * once the sequence outgrows max_position_embeddings.
 */
import { Tensor } from '../tensor/index.js';

export interface RopeSpec {
  headDim: number;
  theta: number;
  maxPositionEmbeddings: number;
  scaling: { type: 'linear' | 'dynamic'; factor: number } | null;
}

/** The base to use for a sequence of `seqLen` positions. */
export function ropeBase(spec: RopeSpec, seqLen: number): number {
  const { scaling, theta, headDim: d, maxPositionEmbeddings: maxPos } = spec;
  if (scaling?.type !== 'dynamic' || seqLen <= maxPos) return theta;
  const f = scaling.factor;
  return theta * Math.pow((f * seqLen) / maxPos - (f - 1), d / (d - 2));
}

export function ropeTables(
  spec: RopeSpec,
  positions: number,
  seqLenForBase = positions,
): { cos: Tensor; sin: Tensor } {
  const half = spec.headDim / 2;
  const base = ropeBase(spec, seqLenForBase);
  const posScale = spec.scaling?.type === 'linear' ? 1 / spec.scaling.factor : 1;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.pow(base, (-2 * i) / spec.headDim);
    for (let p = 0; p < positions; p++) {
      const a = p * posScale * invFreq;
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return {
    cos: Tensor.from(cos, [positions, half]).keep(),
    sin: Tensor.from(sin, [positions, half]).keep(),
  };
}
