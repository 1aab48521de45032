/**
 * `minicpm sft --lora` on a MiniCPM-V folder built here (tiny language model, tiny tower): adapters on the
 * language model only (PEFT names under base_model.model.llm.), the resampler trained, the tower frozen
 * unless --train-vision, checkpoints without the base model, exact resume, and the refused combinations.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AlignError } from '../../src/align/errors.js';
import { AdapterMismatchError } from '../../src/align/lora.js';
import { writeMiniCPMVFolder } from '../../src/align/vlm-checkpoint.js';
import { renderImageChat } from '../../src/align/vlm-examples.js';
import { refBackend } from '../../src/backends/index.js';
import { sftCommand } from '../../src/cli/align-commands.js';
import { logitsCommand } from '../../src/cli/model-commands.js';
import { readPeftAdapter, writePeftAdapter } from '../../src/io/peft.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { recordToTensor } from '../../src/models/weights.js';
import { writeVisionSet } from '../../src/data/vision/write-set.js';
import { LoraError } from '../../src/nn/lora.js';
import { setBackend } from '../../src/tensor/index.js';
import { readMetrics } from '../../src/train/metrics.js';
import { writeTinyVlm } from './vlm-helpers.js';

// The reference backend: deterministic, so a resumed run can be compared bit for bit.
setBackend(refBackend());

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-vlm-lora-'));
const at = (...p: string[]) => path.join(root, ...p);

const { tokDir, tok, modelDir } = await writeTinyVlm(root);
const baseWeights = fs.readFileSync(path.join(modelDir, 'model.safetensors'));
const set = await writeVisionSet(at('set'), {
  seed: 3,
  size: 16,
  trainImages: 5,
  valImages: 2,
  questionsPerImage: 2,
});
const data = at('set', set.files.qaTrain);
const evalData = at('set', set.files.qaVal);

const LORA = 'r=4,alpha=8,dropout=0.1,targets=q_proj,v_proj,down_proj';
const FLAGS = { model: modelDir, data, batchSize: 3, seqLen: 64, lr: 1e-2, warmupSteps: 1, lora: LORA };
const latest = (run: string): string => {
  const { name } = JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as {
    name: string;
  };
  return path.join(run, 'checkpoints', name);
};
const file = (run: string, name: string) => fs.readFileSync(path.join(latest(run), name));
const namesIn = (run: string, name: string) => openSafetensorsSync(path.join(latest(run), name)).names();
const baseTensor = (name: string) =>
  Buffer.from(openSafetensorsSync(path.join(modelDir, 'model.safetensors')).readSync(name).data);
const savedTensor = (run: string, name: string) =>
  Buffer.from(openSafetensorsSync(path.join(latest(run), 'vision.safetensors')).readSync(name).data);

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('minicpm sft --lora on a MiniCPM-V folder', () => {
  it('trains adapters on the language model and the resampler; saves them, not the base', async () => {
    const run = at('lora');
    await sftCommand({ ...FLAGS, out: run, steps: 3 });
    const files = fs.readdirSync(latest(run));
    expect(files).toContain('adapter_config.json');
    expect(files).not.toContain('model.safetensors');
    // PEFT's names for MiniCPMV wrapped whole: the language model sits under `llm`
    const adapters = namesIn(run, 'adapter_model.safetensors');
    expect(adapters).toHaveLength(2 * 3); // A and B × 1 layer × 3 targets
    expect(adapters).toContain('base_model.model.llm.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(adapters).toContain('base_model.model.llm.model.layers.0.mlp.down_proj.lora_B.weight');
    expect(readPeftAdapter(latest(run)).settings).toMatchObject({ r: 4, alpha: 8, dropout: 0.1 });
    // the resampler trained (its fixed sin-cos table did not); the frozen tower is not saved
    const vision = namesIn(run, 'vision.safetensors');
    expect(vision.every((n) => n.startsWith('resampler.'))).toBe(true);
    expect(vision).not.toContain('resampler.pos_embed');
    for (const n of ['resampler.kv_proj.weight', 'resampler.attn.in_proj_weight', 'resampler.query'])
      expect(savedTensor(run, n).equals(baseTensor(n)), n).toBe(false);
    // moments of exactly the trained tensors: the optimizer held adapters and resampler only
    const moments = namesIn(run, 'optimizer.safetensors');
    expect(moments.sort()).toEqual([...adapters, ...vision].flatMap((n) => [`m.${n}`, `v.${n}`]).sort());
    expect(fs.readFileSync(path.join(modelDir, 'model.safetensors')).equals(baseWeights)).toBe(true);
  });

  it('starts from the base model (B = 0): the first loss equals full fine-tuning’s', async () => {
    await sftCommand({ ...FLAGS, lora: null, out: at('full'), steps: 1 });
    const full = readMetrics(path.join(at('full'), 'metrics.jsonl'));
    const lora = readMetrics(path.join(at('lora'), 'metrics.jsonl'));
    expect(lora[0].loss).toBe(full[0].loss);
    expect(lora[2].loss).not.toBe(lora[0].loss);
  });

  it('--train-vision trains and saves the tower with its moments', async () => {
    const run = at('vision');
    await sftCommand({ ...FLAGS, out: run, steps: 2, trainVision: true });
    const vision = namesIn(run, 'vision.safetensors');
    expect(vision).toContain('vpm.patch_embed.proj.weight');
    expect(
      savedTensor(run, 'vpm.patch_embed.proj.weight').equals(baseTensor('vpm.patch_embed.proj.weight')),
    ).toBe(false);
    expect(namesIn(run, 'optimizer.safetensors')).toContain('m.vpm.patch_embed.proj.weight');
  });

  it('resumes exactly: 2 steps, then --resume to 5, equals 5 steps straight', async () => {
    const flags = { ...FLAGS, evalData, evalEvery: 1, decayStart: 3, decay: 'linear', decaySteps: 2 };
    const straight = at('straight');
    await sftCommand({ ...flags, out: straight, steps: 5 });
    const split = at('split');
    await sftCommand({ ...flags, out: split, steps: 2 });
    await sftCommand({ resume: split, steps: 5 });
    const a = readMetrics(path.join(straight, 'metrics.jsonl'));
    const b = readMetrics(path.join(split, 'metrics.jsonl'));
    expect(b.map((x) => x.step)).toEqual([0, 1, 2, 3, 4]);
    a.forEach((x, i) => {
      expect(b[i].loss).toBe(x.loss);
      expect(b[i].lr).toBe(x.lr);
      expect(b[i].val_loss).toBe(x.val_loss);
    });
    for (const f of ['adapter_model.safetensors', 'vision.safetensors', 'optimizer.safetensors'])
      expect(file(split, f).equals(file(straight, f)), f).toBe(true);
  });

  it('refuses --lora-base other than f32, --lora-base without --lora, unknown targets and --lora on a full run', async () => {
    await expect(sftCommand({ ...FLAGS, loraBase: 'int4', out: at('q'), steps: 1 })).rejects.toThrow(
      /--lora-base int4 is not supported for MiniCPM-V/,
    );
    await expect(
      sftCommand({ ...FLAGS, lora: null, loraBase: 'bf16', out: at('q'), steps: 1 }),
    ).rejects.toThrow(AlignError);
    await expect(
      sftCommand({ ...FLAGS, lora: 'r=4,targets=q_proj,fc1', out: at('t'), steps: 1 }),
    ).rejects.toThrow(LoraError);
    await expect(sftCommand({ resume: at('full'), lora: LORA, steps: 2 })).rejects.toThrow(
      /full fine-tuning run: resume it without --lora/,
    );
  });

  it('logits --adapter on a MiniCPM-V equals the folder with the adapters merged by hand', async () => {
    const ckpt = latest(at('lora'));
    const ids = renderImageChat(
      tok,
      [
        { role: 'user', content: '<image>\nWhat colour is the shape?' },
        { role: 'assistant', content: 'red' },
      ],
      4,
    ).ids;
    const input = at('logits-in.json');
    fs.writeFileSync(input, JSON.stringify({ inputs: [ids] }));
    const image = [at('set', 'images', 'train-00000.png')];
    const logitsOf = async (model: string, adapter?: string): Promise<Float32Array> => {
      const output = at(`logits-${adapter ? 'adapted' : path.basename(model)}.safetensors`);
      await logitsCommand({ model, input, output, adapter, image } as Parameters<typeof logitsCommand>[0]);
      return recordToTensor(openSafetensorsSync(output).readSync('logits')).data as Float32Array;
    };
    // reference: W + (alpha/r)·B·A summed in plain loops, the trained resampler copied in, saved whole
    const vlm = await loadMiniCPMV(modelDir);
    const files = readPeftAdapter(ckpt);
    const s = files.settings.alpha / files.settings.r;
    for (const [module, pair] of files.modules) {
      const A = recordToTensor(pair.A).data as Float32Array;
      const B = recordToTensor(pair.B).data as Float32Array;
      const w = vlm.llm.p(`${module.slice('llm.'.length)}.weight`);
      const [out, inp] = w.shape;
      const r = files.settings.r;
      const wd = w.data as Float32Array;
      for (let o = 0; o < out; o++)
        for (let i = 0; i < inp; i++) {
          let d = 0;
          for (let k = 0; k < r; k++) d += B[o * r + k] * A[k * inp + i];
          wd[w.offset + o * inp + i] += s * d;
        }
    }
    const vision = openSafetensorsSync(path.join(ckpt, 'vision.safetensors'));
    for (const n of vision.names()) {
      const p = vlm.params.get(n)!;
      (p.data as Float32Array).set(recordToTensor(vision.readSync(n)).data, p.offset);
    }
    await writeMiniCPMVFolder(at('merged'), vlm, tokDir);
    const want = await logitsOf(at('merged'));
    const base = await logitsOf(modelDir);
    const got = await logitsOf(modelDir, ckpt);
    const diff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(diff(got, want)).toBeLessThan(1e-4);
    expect(diff(got, base)).toBeGreaterThan(1e-3);
    // a text model's adapter (no llm. prefix) is refused by name
    const text = at('text-adapter');
    const [m0, p0] = [...files.modules][0];
    await writePeftAdapter(text, files.settings, [[m0.slice('llm.'.length), p0]], null);
    await expect(logitsOf(modelDir, text)).rejects.toThrow(AdapterMismatchError);
  });
});
