// Loading a quantized folder keeps every quantized matrix quantized at every moment, not only in the end
// (issue 13: "No f32/bf16 copy of a quantized matrix exists at any moment"): while a GPTQ folder of each
// bit width loads (act-order included), no tensor buffer and no Float32Array, Float64Array or Uint16Array
// as large as the bf16 copy of the smallest quantized matrix is created. The peak-RSS side of the same
// promise is measured by `npm run bench -- infer` (W4 folder: ~1.07x its bytes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { loadAnyModel, quantizeModel, QuantizedLinears, saveQuantizedModel } from '../../src/quant/index.js';
import { Rng, setAllocator } from '../../src/tensor/index.js';
import { tempDir } from '../io/helpers.js';

useBackend('auto');

// every quantized matrix is at least 256 × 256, and the float tensors that stay (the 32-token embedding,
// the norms) are far smaller than one's bf16 copy (128 KiB)
const config = configFromHF({
  model_type: 'minicpm',
  vocab_size: 32,
  hidden_size: 256,
  intermediate_size: 640,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  scale_emb: 4,
  scale_depth: 1.4,
  dim_model_base: 64,
});
const smallestBf16 = 256 * 256 * 2;

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Uint16ArrayConstructor;
const names = ['Float32Array', 'Float64Array', 'Uint16Array'] as const;
const g = globalThis as unknown as Record<(typeof names)[number], Ctor>;
const originals = Object.fromEntries(names.map((n) => [n, g[n]])) as Record<(typeof names)[number], Ctor>;

/** Bytes of every buffer made while `fn` runs: tensor buffers, and float/16-bit arrays made with a length. */
async function allocations(fn: () => Promise<unknown>): Promise<{ what: string; bytes: number }[]> {
  const seen: { what: string; bytes: number }[] = [];
  const previous = setAllocator((bytes) => {
    seen.push({ what: 'tensor buffer', bytes });
    return previous(bytes);
  });
  for (const n of names) {
    const C = originals[n];
    g[n] = new Proxy(C, {
      construct(target, args: unknown[]) {
        const [a] = args;
        if (typeof a === 'number') seen.push({ what: n, bytes: a * C.BYTES_PER_ELEMENT });
        else if (Array.isArray(a) || (ArrayBuffer.isView(a) && !(a instanceof DataView)))
          seen.push({ what: `${n} copy`, bytes: (a as ArrayLike<number>).length * C.BYTES_PER_ELEMENT });
        return Reflect.construct(target, args) as object;
      },
    });
  }
  try {
    await fn();
  } finally {
    for (const n of names) g[n] = originals[n];
    setAllocator(previous);
  }
  return seen;
}

afterEach(() => {
  for (const n of names) g[n] = originals[n];
});

describe('loading a quantized folder makes no float copy of a quantized matrix', () => {
  const seqs = [
    [1, 5, 9, 30, 2, 17, 4, 22, 8, 13],
    [3, 3, 28, 11, 6, 19, 25, 7, 14, 0],
  ];
  for (const [bits, actOrder] of [
    [4, true],
    [4, false],
    [8, false],
    [2, false],
  ] as const)
    it(`${bits}-bit${actOrder ? ', act-order' : ''}`, async () => {
      const root = tempDir('minicpm-noflt-');
      try {
        const dir = path.join(root, 'q');
        await saveQuantizedModel(
          dir,
          quantizeModel(MiniCPM.init(config, new Rng(5)), seqs, { bits, groupSize: 32, actOrder }),
        );
        let model: MiniCPM | null = null;
        const seen = await allocations(async () => {
          model = await loadAnyModel(dir);
        });
        // it loaded, quantized: every projection is the runner's, none a float parameter
        const runner = model!.linearRunner as QuantizedLinears;
        expect(runner.weights.size).toBe(config.numLayers * 7);
        expect([...model!.params.keys()].filter((n) => n.endsWith('_proj.weight'))).toEqual([]);
        // at the folder's width: 64·bits code bytes per 16 rows × 32 columns (2-bit is not widened)
        for (const w of runner.weights.values()) {
          expect(w.bits).toBe(bits);
          expect(w.codes.byteLength).toBe(w.tiles * w.blocks * 64 * bits);
        }
        // and the spies saw the loader's buffers (the embedding, its own tensor), so they were in place
        expect(seen.some((s) => s.what === 'tensor buffer' && s.bytes >= 32 * 256 * 2)).toBe(true);
        const big = seen.filter((s) => s.bytes >= smallestBf16);
        expect(big).toEqual([]);
        // the spies do see float copies: the same folder loaded dequantized (--dequantize) makes them
        const copies = await allocations(() => loadAnyModel(dir, { dequantize: true }));
        expect(copies.filter((s) => s.bytes >= smallestBf16).length).toBeGreaterThanOrEqual(
          config.numLayers * 7,
        );
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
});
