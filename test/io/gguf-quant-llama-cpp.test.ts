/**
 * Quantized GGUF exports run by llama.cpp and by our engine: the fixtures exported by `minicpm export
 * --dtype q8_0|q4_0`, then greedy decoding in llama.cpp (node-llama-cpp, CPU) and in our engine loading
 * the same file (`--model FILE.gguf`: Q4_0/Q8_0 matrices on the int4/int8 kernels) must give the same
 * ids, and the next-token log-probabilities must agree closely (both quantize activations to int8 per 32
 * for these matmuls, each its own way). Skipped visibly without node-llama-cpp or the fixtures.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export-command.js';
import { generateAll } from '../../src/engine/generate.js';
import { openGguf } from '../../src/io/gguf.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { loadGgufModel } from '../../src/quant/ggml-model.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';
import { hasShared, sharedFixtures, tempDir } from './helpers.js';

type NodeLlamaCpp = typeof import('node-llama-cpp');
let nlc: NodeLlamaCpp | undefined;
try {
  nlc = await import('node-llama-cpp');
} catch {
  console.warn('[gguf-quant-llama-cpp] SKIPPING: node-llama-cpp is not installed');
}
const native = backendCases().find((c) => c.name === 'native')?.backend ?? null;
const backend = native ?? backendCases()[0].backend;
const dir = tempDir('gguf-quant-llama-cpp');

function logSoftmax(row: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < row.length; i++) mx = Math.max(mx, row[i]);
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i] - mx);
  return Float64Array.from(row, (x) => x - mx - Math.log(z));
}

describe.skipIf(!nlc || !hasShared)(
  'quantized GGUF exports: llama.cpp and our engine on the same file',
  () => {
    let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
    beforeAll(async () => {
      install(backend);
      llama = await nlc!.getLlama({ gpu: false, build: 'never' });
    });
    afterAll(async () => {
      await llama?.dispose();
    });

    async function llamaGreedy(file: string, prompt: number[], n: number) {
      const model = await llama.loadModel({ modelPath: file });
      const ctx = await model.createContext({ contextSize: 128, threads: 2 });
      try {
        const seq = ctx.getSequence();
        const ids: number[] = [];
        const probs: Map<number, number>[] = [];
        const tokens = prompt as unknown as Parameters<typeof seq.evaluateWithMetadata>[0];
        for await (const r of seq.evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 0 })) {
          ids.push(r.token);
          probs.push(r.probabilities);
          if (ids.length >= n) break;
        }
        return { ids, probs };
      } finally {
        await ctx.dispose();
        await model.dispose();
      }
    }

    /** max |log p_ours − log p_llama| over llama.cpp's tokens with p > 1e-4, along the generated ids. */
    function maxLogpError(model: MiniCPM, prompt: number[], ids: number[], probs: Map<number, number>[]) {
      const seq = [...prompt, ...ids.slice(0, -1)];
      const V = model.config.vocabSize;
      const logits = noGrad(() =>
        model.forward(Tensor.from(Int32Array.from(seq), [1, seq.length], 'i32')),
      ).toArray();
      let err = 0;
      for (let s = 0; s < ids.length; s++) {
        const t = prompt.length - 1 + s;
        const ours = logSoftmax(logits.slice(t * V, (t + 1) * V));
        for (const [tok, p] of probs[s]) if (p > 1e-4) err = Math.max(err, Math.abs(Math.log(p) - ours[tok]));
      }
      return err;
    }

    for (const fixture of ['tiny-mha', 'tiny-gqa'])
      for (const dtype of ['q8_0', 'q4_0'] as const) {
        it(`${fixture} ${dtype}: the same greedy ids in llama.cpp and in our engine`, async () => {
          const fx = path.join(sharedFixtures, 'minicpm', fixture);
          const file = path.join(dir, `${fixture}-${dtype}.gguf`);
          await exportCommand({ model: fx, format: 'gguf', output: file, dtype });
          const g = await openGguf(file);
          const types = new Set(g.tensors.map((t) => t.typeName));
          await g.close();
          expect(types.has(dtype.toUpperCase())).toBe(true);

          const notes: string[] = [];
          const model = await loadGgufModel(file, {}, (l) => notes.push(l));
          expect(model.linearRunner).not.toBeNull();
          expect(notes.join('\n')).toMatch(/1 quantized tensors \(1 Q8_0\).*embedding lookup/);
          const V = model.config.vocabSize;
          let s = 777;
          const rnd = Array.from({ length: 30 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
          for (const prompt of [[1, 200 % V, 3, 64], rnd]) {
            const n = 10;
            const theirs = await llamaGreedy(file, prompt, n);
            const [ours] = await generateAll(model, [prompt], { maxNewTokens: n, greedy: true, stopIds: [] });
            expect(ours).toEqual(theirs.ids);
            const err = maxLogpError(model, prompt, theirs.ids, theirs.probs);
            console.log(
              `[gguf-quant-llama-cpp] ${fixture} ${dtype}: ${n} greedy ids equal; max |Δ log p| ${err.toExponential(2)}`,
            );
            expect(err).toBeLessThan(dtype === 'q8_0' ? 0.02 : 0.05);
          }
          model.parameters().forEach((t) => t.dispose());
        });
      }
  },
);
