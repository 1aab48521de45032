import { readFileSync } from 'node:fs';
import { useBackend } from './src/backends/index.js';
useBackend('native');
import { getLlama } from 'node-llama-cpp';
import { exportCommand } from './src/cli/export-command.js';
import { loadModel } from './src/models/load.js';
import { noGrad, Tensor, softmax } from './src/tensor/index.js';
for (const fx of ['tiny-mha', 'tiny-gqa']) {
  const dir = `/work/shared/fixtures/minicpm/${fx}`;
  const exp = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
  const out = `/tmp/gg/${fx}.gguf`;
  await exportCommand({ model: dir, format: 'gguf', output: out, dtype: 'f32' });
  const llama = await getLlama({ gpu: false });
  const model = await llama.loadModel({ modelPath: out });
  const ctx = await model.createContext({ contextSize: 128, threads: 2 });
  const seq = ctx.getSequence();
  const prompt = exp.greedy.prompt as number[];
  const want = exp.greedy.ids as number[];
  const got: number[] = [...prompt];
  const probs: Map<number, number>[] = [];
  for await (const r of seq.evaluateWithMetadata(prompt as any, { probabilities: true }, { temperature: 0 } as any)) {
    got.push(r.token as number);
    probs.push(r.probabilities as any);
    if (got.length >= want.length) break;
  }
  console.log(fx, JSON.stringify(got) === JSON.stringify(want), got.join(','));
  // our probabilities for the step after the prompt
  const m = await loadModel(dir);
  const logits = noGrad(() => m.forward(Tensor.from(Int32Array.from(want.slice(0, want.length - 1)), [1, want.length - 1], 'i32')));
  const V = m.config.vocabSize;
  const L = logits.toArray() as number[];
  let maxErr = 0;
  for (let s = 0; s < probs.length; s++) {
    const t = prompt.length - 1 + s;
    const row = L.slice(t * V, (t + 1) * V);
    const mx = Math.max(...row);
    const e = row.map((x) => Math.exp(x - mx));
    const z = e.reduce((a, b) => a + b, 0);
    for (const [tok, p] of probs[s]) maxErr = Math.max(maxErr, Math.abs(p - e[tok] / z));
  }
  console.log(fx, 'max |prob diff|', maxErr, 'entries', probs[0].size);
  await ctx.dispose(); await model.dispose();
}
