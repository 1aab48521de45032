/**
 * Model shapes by name: MiniCPM's own sizes and the sandbox "wind-tunnel" shapes of SPEC.md §4
 * (head dim 64, d_ff = 2.5·d, μP with scale_emb 12, scale_depth 1.4, dim_model_base 256).
 */
import { ConfigError, type MiniCPMConfig } from './config.js';

interface Shape {
  d: number;
  L: number;
  heads?: number;
  kvHeads?: number;
  ff?: number;
}

const SHAPES: Record<string, Shape> = {
  'minicpm-2b': { d: 2304, L: 40, ff: 5760 },
  'minicpm-1b': { d: 1536, L: 52, heads: 24, kvHeads: 8, ff: 3840 },
  'sandbox-0.009b': { d: 320, L: 8 },
  'sandbox-0.036b': { d: 512, L: 12 },
  'sandbox-0.066b': { d: 640, L: 14 },
  'sandbox-0.1b': { d: 768, L: 16 },
  'sandbox-0.17b': { d: 896, L: 18 },
  'sandbox-0.24b': { d: 1024, L: 20 },
  'sandbox-0.5b': { d: 1344, L: 24 },
  /** The laptop demo: a few million parameters. */
  demo: { d: 256, L: 4, ff: 640 },
  /** For tests. */
  tiny: { d: 64, L: 2, ff: 160 },
};

export function presetNames(): string[] {
  return Object.keys(SHAPES);
}

export function presetConfig(
  name: string,
  vocabSize: number,
  overrides: Partial<MiniCPMConfig> = {},
): MiniCPMConfig {
  const s = SHAPES[name];
  if (!s) throw new ConfigError(`unknown model preset "${name}": choose one of ${presetNames().join(', ')}`);
  const heads = s.heads ?? s.d / 64;
  return {
    modelType: 'minicpm',
    vocabSize,
    hiddenSize: s.d,
    intermediateSize: s.ff ?? Math.round(2.5 * s.d),
    numLayers: s.L,
    numHeads: heads,
    numKvHeads: s.kvHeads ?? heads,
    headDim: s.d / heads,
    maxPositionEmbeddings: 4096,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: true,
    scaleEmb: 12,
    scaleDepth: 1.4,
    dimModelBase: 256,
    initStd: 0.1,
    bosTokenId: 1,
    eosTokenId: 2,
    ...overrides,
  };
}

/** Non-embedding parameter count N = L·(4d² + 3·d·d_ff) for MHA (GQA shrinks k/v). */
export function nonEmbeddingParams(c: MiniCPMConfig): number {
  const d = c.hiddenSize;
  const kv = c.numKvHeads * c.headDim;
  const q = c.numHeads * c.headDim;
  return c.numLayers * (2 * d * q + 2 * d * kv + 3 * d * c.intermediateSize + 2 * d) + d;
}
