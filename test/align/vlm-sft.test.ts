/**
 * `minicpm sft` on a MiniCPM-V folder built here (tiny language model, tiny tower) with records from the
 * synthetic shapes set: the frozen tower stays bit-identical while the resampler and the language model
 * train; --train-vision trains the tower; a resumed run equals a straight one bit for bit; the image
 * markers expand into the spans the splice fills; mismatched markers and images are typed errors.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AlignError } from '../../src/align/errors.js';
import {
  batchImages,
  imageBatch,
  imageSftExamples,
  readImageConversations,
  renderImageChat,
} from '../../src/align/vlm-examples.js';
import { ImageStore, imageSftObjective, visionTrainables } from '../../src/align/vlm-train.js';
import { refBackend } from '../../src/backends/index.js';
import { sftCommand } from '../../src/cli/align-commands.js';
import { writeVisionSet } from '../../src/data/vision/write-set.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { loadMiniCPMV } from '../../src/models/minicpmv-load.js';
import { backward, setBackend, Tensor } from '../../src/tensor/index.js';
import { readMetrics } from '../../src/train/metrics.js';
import { writeTinyVlm } from './vlm-helpers.js';

// The reference backend: deterministic, so a resumed run can be compared bit for bit.
setBackend(refBackend());

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-vlm-sft-'));
const at = (...p: string[]) => path.join(root, ...p);

const { tok, modelDir } = await writeTinyVlm(root);
const set = await writeVisionSet(at('set'), {
  seed: 3,
  size: 16,
  trainImages: 5,
  valImages: 2,
  questionsPerImage: 2,
});
const data = at('set', set.files.qaTrain);
const evalData = at('set', set.files.qaVal);

const FLAGS = { model: modelDir, data, batchSize: 3, seqLen: 64, lr: 1e-2, warmupSteps: 1 };
const latest = (run: string): string => {
  const { name } = JSON.parse(fs.readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as {
    name: string;
  };
  return path.join(run, 'checkpoints', name);
};
const file = (run: string, name: string) => fs.readFileSync(path.join(latest(run), name));
const tensorBytes = (dir: string, name: string) =>
  Buffer.from(openSafetensorsSync(path.join(dir, 'model.safetensors')).readSync(name).data);

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('image records', () => {
  it('expand each <image> marker into <image>, query_num <unk> and </image>, unsupervised', () => {
    const { ids, mask } = renderImageChat(
      tok,
      [
        { role: 'user', content: '<image>\nHow many shapes are there?' },
        { role: 'assistant', content: 'two' },
      ],
      4,
    );
    const start = ids.indexOf(101);
    expect(ids.slice(start, start + 6)).toEqual([101, tok.unkId, tok.unkId, tok.unkId, tok.unkId, 102]);
    expect(ids.slice(0, start)).toEqual([tok.bosId, ...tok.encode('<用户>')]);
    const answer = tok.encode('two');
    expect(ids.slice(-answer.length - 1)).toEqual([...answer, tok.eosId]);
    // supervised: the answer and the closing EOS only
    expect(mask.reduce((a, b) => a + b, 0)).toBe(answer.length + 1);
    expect(mask.slice(-answer.length - 1).every((m) => m === 1)).toBe(true);
  });

  it('resolve image paths against the data file and check markers against images', () => {
    const recs = readImageConversations(data);
    expect(recs[0].images[0]).toBe(at('set', 'images', 'train-00000.png'));
    const bad = at('bad.jsonl');
    const rec = {
      messages: [
        { role: 'user', content: '<image> <image> hi' },
        { role: 'assistant', content: 'x' },
      ],
    };
    fs.writeFileSync(bad, JSON.stringify({ ...rec, images: ['set/images/train-00000.png'] }) + '\n');
    expect(() => readImageConversations(bad)).toThrow(/2 <image> marker\(s\) but "images" lists 1/);
    fs.writeFileSync(bad, JSON.stringify({ ...rec, images: ['a.png', 'b.png'] }) + '\n');
    expect(() => readImageConversations(bad)).toThrow(AlignError);
    expect(() => readImageConversations(bad)).toThrow(/a\.png does not exist/);
  });

  it('refuse text that the tokenizer encodes to the reserved span ids', () => {
    // this tokenizer spells "`" with its byte-fallback piece 101 (<0x60>)
    expect(tok.encode('`')).toContain(101);
    const msgs = [
      { role: 'user' as const, content: '<image> what is `?' },
      { role: 'assistant' as const, content: 'x' },
    ];
    expect(() => renderImageChat(tok, msgs, 4)).toThrow(/reserves for image spans/);
  });
});

describe('the image SFT objective', () => {
  it("equals the language model's full loss (head applied only where targets are) and reaches every trainable", async () => {
    const vlm = await loadMiniCPMV(modelDir);
    const r = imageSftExamples(tok, readImageConversations(data), 4, 64);
    const store = await ImageStore.load(vlm, r.imagePaths, true);
    const batch = imageBatch(r.examples.slice(0, 3), tok.eosId);
    const { loss } = imageSftObjective(vlm, store)(vlm.llm, batch);
    const images = batchImages(batch).map((row) => row.map((i) => store.tokens(vlm, i)));
    const full = vlm.llm
      .withImages(images)
      .loss(
        Tensor.from(batch.inputs, [batch.batch, batch.seqLen], 'i32'),
        Tensor.from(batch.targets, [batch.batch, batch.seqLen], 'i32'),
      );
    expect(Math.abs(loss.item() - full.item())).toBeLessThan(1e-5);
    backward(loss);
    const trained = [...visionTrainables(vlm, true)].filter(
      ([, p]) => !p.grad || !p.grad.toArray().some((x) => x !== 0),
    );
    expect(trained.map(([n]) => n)).toEqual([]);
  });
});

describe('minicpm sft on a MiniCPM-V folder', () => {
  it('trains the resampler and the language model; the frozen tower stays bit-identical', async () => {
    const run = at('frozen');
    await sftCommand({ ...FLAGS, out: run, steps: 3, evalData, evalEvery: 3 });
    const m = readMetrics(path.join(run, 'metrics.jsonl'));
    expect(m.map((x) => x.step)).toEqual([0, 1, 2]);
    expect(m[2].val_loss).toBeGreaterThan(0);
    const ck = latest(run);
    for (const name of ['vpm.patch_embed.proj.weight', 'vpm.blocks.1.mlp.fc2.weight', 'resampler.pos_embed'])
      expect(tensorBytes(ck, name).equals(tensorBytes(modelDir, name)), name).toBe(true);
    for (const name of [
      'resampler.kv_proj.weight',
      'resampler.attn.in_proj_weight',
      'llm.model.layers.0.self_attn.q_proj.weight',
    ])
      expect(tensorBytes(ck, name).equals(tensorBytes(modelDir, name)), name).toBe(false);
    // the checkpoint is a MiniCPM-V folder the model loader reads
    const vlm = await loadMiniCPMV(ck);
    expect(vlm.config.queryNum).toBe(4);
    expect(vlm.config.vision.numLayers).toBe(2);
  });

  it('--train-vision trains the tower too', async () => {
    const run = at('vision');
    await sftCommand({ ...FLAGS, out: run, steps: 2, trainVision: true });
    const ck = latest(run);
    expect(
      tensorBytes(ck, 'vpm.patch_embed.proj.weight').equals(
        tensorBytes(modelDir, 'vpm.patch_embed.proj.weight'),
      ),
    ).toBe(false);
    expect(tensorBytes(ck, 'resampler.pos_embed').equals(tensorBytes(modelDir, 'resampler.pos_embed'))).toBe(
      true,
    );
  });

  it('resumes exactly: 2 steps, then --resume to 5, equals 5 steps straight', async () => {
    const flags = {
      ...FLAGS,
      trainVision: true,
      evalData,
      evalEvery: 1,
      decayStart: 3,
      decay: 'linear',
      decaySteps: 2,
    };
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
    expect(file(split, 'model.safetensors').equals(file(straight, 'model.safetensors'))).toBe(true);
    expect(file(split, 'optimizer.safetensors').equals(file(straight, 'optimizer.safetensors'))).toBe(true);
  });

  it('refuses --train-vision on a text model and --lora-base without --lora', async () => {
    const textModel = at('text');
    fs.mkdirSync(textModel, { recursive: true });
    fs.writeFileSync(path.join(textModel, 'config.json'), JSON.stringify({ model_type: 'minicpm' }));
    await expect(sftCommand({ model: textModel, trainVision: true })).rejects.toThrow(
      /--train-vision needs a MiniCPM-V/,
    );
    await expect(sftCommand({ ...FLAGS, out: at('lora'), loraBase: 'bf16' })).rejects.toThrow(
      /--lora-base is for LoRA runs/,
    );
  });
});
