/**
 * `minicpm sft --lora` and `minicpm dpo --lora` end to end on a tiny model folder: only the adapters train
 * and are saved (as a PEFT folder), exact resume (adapters, moments and the dropout stream), DPO's
 * reference is the base model without adapters, and the adapter of a run works with --adapter.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadAdapter } from '../../src/align/lora.js';
import { refBackend } from '../../src/backends/index.js';
import { dpoCommand, sftCommand } from '../../src/cli/align-commands.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { loadModel, saveModel } from '../../src/models/load.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { LoraError } from '../../src/nn/lora.js';
import { noGrad, Rng, setBackend, Tensor } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { readMetrics } from '../../src/train/metrics.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

// The reference backend: deterministic, so a resumed run can be compared bit for bit.
setBackend(refBackend());

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-lora-cli-'));
const at = (...p: string[]) => path.join(root, ...p);
const jsonl = (name: string, records: unknown[]): string => {
  fs.writeFileSync(at(name), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return at(name);
};
const user = (content: string) => ({ role: 'user', content });
const ai = (content: string) => ({ role: 'assistant', content });

const modelDir = at('model');
const tokDir = at('tokenizer');
writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 480 }), tokDir);
const vocabSize = loadTokenizer(tokDir).tokenizer.vocabSize;
await saveModel(modelDir, MiniCPM.init(presetConfig('tiny', vocabSize), new Rng(0)), {
  tokenizerFrom: tokDir,
});
const baseWeights = fs.readFileSync(path.join(modelDir, 'model.safetensors'));

const conversations = jsonl('sft.jsonl', [
  { messages: [user('What is the colour of the sky?'), ai('The sky is blue.')] },
  { messages: [user('Name a fruit.'), ai('An apple.'), user('Another one?'), ai('A pear.')] },
  { messages: [user('Say hello.'), ai('Hello there!')] },
  { messages: [user('Count to three.'), ai('One, two, three.')] },
]);
const preferences = jsonl('dpo.jsonl', [
  { prompt: 'Is the sky blue?', chosen: 'Yes, it is blue.', rejected: 'No idea, go away.' },
  { prompt: 'Say hello.', chosen: 'Hello there!', rejected: 'Whatever.' },
  { prompt: 'Count to three.', chosen: 'One, two, three.', rejected: 'Seven.' },
  { prompt: 'Name a fruit.', chosen: 'An apple.', rejected: 'A rock.' },
]);

const LORA = 'r=4,alpha=8,dropout=0.1,targets=q_proj,v_proj,o_proj,down_proj';
const SFT = { data: conversations, batchSize: 2, seqLen: 64, lr: 1e-2, warmupSteps: 1, lora: LORA };
const DPO = { data: preferences, batchSize: 2, seqLen: 64, lr: 1e-2, schedule: 'constant', lora: LORA };

const latest = (run: string): string => {
  const { name } = JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as {
    name: string;
  };
  return path.join(run, 'checkpoints', name);
};
const file = (run: string, f: string): Buffer => fs.readFileSync(path.join(latest(run), f));
const metricsOf = (run: string) => readMetrics(path.join(run, 'metrics.jsonl'));

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('minicpm sft --lora', () => {
  it('trains only the adapters, saves them as a PEFT folder, and resumes bit for bit', async () => {
    const straight = at('sft-straight');
    await sftCommand({ ...SFT, model: modelDir, out: straight, steps: 5 });
    const ck = latest(straight);
    const files = fs.readdirSync(ck).sort();
    expect(files).toContain('adapter_config.json');
    expect(files).toContain('adapter_model.safetensors');
    expect(files).not.toContain('model.safetensors');
    const adapterNames = openSafetensorsSync(path.join(ck, 'adapter_model.safetensors')).names();
    expect(adapterNames).toHaveLength(2 * 2 * 4); // A and B × 2 layers × 4 targets
    expect(adapterNames).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
    // the optimizer holds the adapters' moments and nothing else
    const moments = openSafetensorsSync(path.join(ck, 'optimizer.safetensors')).names();
    expect(moments.sort()).toEqual(adapterNames.flatMap((n) => [`m.${n}`, `v.${n}`]).sort());
    const m = metricsOf(straight);
    expect(m).toHaveLength(5);
    expect(m[4].loss).toBeLessThan(m[0].loss);
    // the base model folder is untouched
    expect(fs.readFileSync(path.join(modelDir, 'model.safetensors')).equals(baseWeights)).toBe(true);

    const split = at('sft-split');
    await sftCommand({ ...SFT, model: modelDir, out: split, steps: 2 });
    await sftCommand({ resume: split, steps: 5 });
    const b = metricsOf(split);
    expect(b.map((x) => x.step)).toEqual([0, 1, 2, 3, 4]);
    m.forEach((x, i) => expect(b[i].loss).toBe(x.loss));
    expect(file(split, 'adapter_model.safetensors').equals(file(straight, 'adapter_model.safetensors'))).toBe(
      true,
    );
    expect(file(split, 'optimizer.safetensors').equals(file(straight, 'optimizer.safetensors'))).toBe(true);

    // the run's adapter applies with --adapter: it changes the base model's logits
    const ids = Tensor.from(Int32Array.from([1, 5, 9, 12, 40]), [1, 5], 'i32');
    const plain = await loadModel(modelDir);
    const before = noGrad(() => plain.forward(ids).toArray());
    loadAdapter(ck, plain);
    const after = noGrad(() => plain.forward(ids).toArray());
    expect(Math.max(...after.map((v, i) => Math.abs(v - before[i])))).toBeGreaterThan(1e-4);
  });

  it('--no-checkpoint-layers trains the same adapters, bit for bit, as the default (layers recomputed)', async () => {
    const ck = at('sft-ck');
    await sftCommand({ ...SFT, model: modelDir, out: ck, steps: 2 });
    const plain = at('sft-no-ck');
    await sftCommand({ ...SFT, model: modelDir, out: plain, steps: 2, checkpointLayers: false });
    metricsOf(ck).forEach((x, i) => expect(metricsOf(plain)[i].loss).toBe(x.loss));
    expect(file(ck, 'adapter_model.safetensors').equals(file(plain, 'adapter_model.safetensors'))).toBe(true);
    expect(file(ck, 'optimizer.safetensors').equals(file(plain, 'optimizer.safetensors'))).toBe(true);
  });

  it('QLoRA on an int4 base made at load: trains, saves only adapters, resumes bit for bit', async () => {
    const flags = { ...SFT, model: modelDir, loraBase: 'int4' };
    const straight = at('qlora-straight');
    await sftCommand({ ...flags, out: straight, steps: 3 });
    const split = at('qlora-split');
    await sftCommand({ ...flags, out: split, steps: 1 });
    await sftCommand({ resume: split, steps: 3 });
    const a = metricsOf(straight);
    const b = metricsOf(split);
    expect(a.every((x) => Number.isFinite(x.loss))).toBe(true);
    a.forEach((x, i) => expect(b[i].loss).toBe(x.loss));
    expect(file(split, 'adapter_model.safetensors').equals(file(straight, 'adapter_model.safetensors'))).toBe(
      true,
    );
    // the int4 base is not the f32 one: the first losses differ
    expect(a[0].loss).not.toBe(metricsOf(at('sft-straight'))[0].loss);
    await expect(
      sftCommand({ ...SFT, lora: null, loraBase: 'int4', model: modelDir, out: at('bad'), steps: 1 }),
    ).rejects.toThrow(/--lora-base is for LoRA runs/);
    await expect(sftCommand({ ...flags, loraBase: 'nf4', out: at('bad'), steps: 1 })).rejects.toThrow(
      /--lora-base must be one of f32, bf16, int8, int4/,
    );
  });

  it('names a target that does not exist', async () => {
    await expect(
      sftCommand({ ...SFT, lora: 'r=4,targets=q_proj,qkv_proj', model: modelDir, out: at('bad'), steps: 1 }),
    ).rejects.toThrow(LoraError);
    await expect(
      sftCommand({ ...SFT, lora: 'r=4,targets=qkv_proj', model: modelDir, out: at('bad'), steps: 1 }),
    ).rejects.toThrow(/qkv_proj do not exist in MiniCPM: choose from q_proj/);
  });
});

describe('minicpm dpo --lora', () => {
  it('scores against the base model (adapters off), starts at ln 2 and resumes bit for bit', async () => {
    const straight = at('dpo-straight');
    await dpoCommand({ ...DPO, model: modelDir, out: straight, steps: 4 });
    const m = metricsOf(straight);
    expect(Math.abs(m[0].loss - Math.LN2)).toBeLessThan(1e-6);
    expect(m[3].loss).toBeLessThan(m[0].loss);

    const split = at('dpo-split');
    await dpoCommand({ ...DPO, model: modelDir, out: split, steps: 2 });
    // the reference was computed once, from the base model
    const ref = fs.readFileSync(path.join(split, 'reference_logps.json'), 'utf8');
    expect(ref).toBe(fs.readFileSync(path.join(straight, 'reference_logps.json'), 'utf8'));
    await dpoCommand({ resume: split, steps: 4 });
    expect(fs.readFileSync(path.join(split, 'reference_logps.json'), 'utf8')).toBe(ref);
    const b = metricsOf(split);
    m.forEach((x, i) => expect(b[i].loss).toBe(x.loss));
    expect(file(split, 'adapter_model.safetensors').equals(file(straight, 'adapter_model.safetensors'))).toBe(
      true,
    );
  });
});
