/**
 * PEFT adapter folders: an adapter made by an independent float64 PyTorch transcription of MiniCPM with
 * PEFT's LoRA forward (result + lora_B(lora_A(x))·alpha/r) gives the logits it computed; merging gives
 * the same; saved folders carry PEFT's names and load back; bad adapters fail with what to fix.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { AdapterMismatchError, loadAdapter, mergeLora, saveAdapter } from '../../src/align/lora.js';
import { PeftError, readPeftAdapter } from '../../src/io/peft.js';
import { openSafetensorsSync, writeSafetensors } from '../../src/io/safetensors.js';
import { recordToTensor } from '../../src/models/weights.js';
import { linears, noGrad, Tensor } from '../../src/tensor/index.js';
import { haveFixtures, loadFixture } from '../helpers/fixtures.js';
import { projectRoot } from './helpers.js';

const ADAPTER = path.join(projectRoot, 'test/fixtures/peft/tiny-gqa-lora');
const run = haveFixtures ? describe : describe.skip;
// every folder the tests write, under one root removed when the file is done
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-peft-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const tempDir = (tag: string): string => fs.mkdtempSync(path.join(root, `${tag}-`));
const itFx = haveFixtures ? it : it.skip;
if (!haveFixtures) console.warn('skipping PEFT fixture tests: ../shared/fixtures/minicpm is absent');

interface Expected {
  inputs: number[][];
}

function logitsOf(
  name: 'tiny-gqa' | 'tiny-mha',
  attach?: (m: ReturnType<typeof loadFixture<Expected>>['model']) => void,
) {
  const f = loadFixture<Expected>(name);
  attach?.(f.model);
  const ids = Tensor.from(
    Int32Array.from(f.expected.inputs.flat()),
    [f.expected.inputs.length, f.expected.inputs[0].length],
    'i32',
  );
  return { f, ids, logits: () => noGrad(() => f.model.forward(ids).toArray()) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const expectedLogits = () =>
  recordToTensor(
    openSafetensorsSync(path.join(ADAPTER, 'expected_logits.safetensors')).readSync('logits'),
  ).toArray();

run('PEFT adapters on the tiny-gqa fixture', () => {
  it('logits equal the PyTorch transcription of PEFT LoRA', () => {
    const { f, logits } = logitsOf('tiny-gqa');
    const base = logits();
    const adapters = loadAdapter(ADAPTER, f.model);
    expect(adapters.modules.size).toBe(10); // 5 targets × 2 layers
    expect(adapters.scaling).toBe(2);
    const got = logits();
    const want = expectedLogits();
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    // the adapter matters far beyond the tolerance
    expect(maxAbsDiff(base, want)).toBeGreaterThan(0.1);
    // and the base weights were frozen
    expect([...f.model.params.values()].some((p) => p.requiresGrad)).toBe(false);
  });

  it('merging into the base weights computes the same logits without the adapter', () => {
    const { f, logits } = logitsOf('tiny-gqa');
    mergeLora(f.model, loadAdapter(ADAPTER, f.model));
    expect(f.model.adapter).toBeNull();
    expect(maxAbsDiff(logits(), expectedLogits())).toBeLessThan(1e-4);
  });

  it('layers run by a LinearRunner (quantized ones) take the adapter; merging into them is refused', () => {
    const { f, logits } = logitsOf('tiny-gqa');
    // the first layer's q/k/v leave the parameters and run through a runner, as int4/int8 layers do
    const held = new Map<string, Tensor>();
    for (const p of ['q_proj', 'k_proj', 'v_proj']) {
      const name = `model.layers.0.self_attn.${p}.weight`;
      held.set(name.slice(0, -'.weight'.length), f.model.p(name));
      f.model.params.delete(name);
    }
    f.model.linearRunner = {
      run: (x, modules) =>
        modules.every((m) => held.has(m))
          ? linears(
              x,
              modules.map((m) => held.get(m)!),
            )
          : null,
    };
    const adapters = loadAdapter(ADAPTER, f.model);
    expect(maxAbsDiff(logits(), expectedLogits())).toBeLessThan(1e-4);
    const before = f.model.p('model.layers.1.mlp.up_proj.weight').toArray();
    expect(() => mergeLora(f.model, adapters)).toThrow(/model.layers.0.self_attn.q_proj is held quantized/);
    expect(f.model.p('model.layers.1.mlp.up_proj.weight').toArray()).toEqual(before);
  });

  it('a saved adapter carries PEFT names and config and loads back identically', async () => {
    const { f, logits } = logitsOf('tiny-gqa');
    const a = loadAdapter(ADAPTER, f.model);
    const dir = tempDir('peft');
    await saveAdapter(dir, a, 'tiny-gqa');
    const names = openSafetensorsSync(path.join(dir, 'adapter_model.safetensors')).names().sort();
    expect(names).toEqual(
      openSafetensorsSync(path.join(ADAPTER, 'adapter_model.safetensors')).names().sort(),
    );
    expect(names).toContain('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight');
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 8,
      use_dora: false,
      bias: 'none',
    });
    const back = readPeftAdapter(dir);
    const orig = readPeftAdapter(ADAPTER);
    for (const [m, { A, B }] of orig.modules) {
      expect(Buffer.from(back.modules.get(m)!.A.data)).toEqual(Buffer.from(A.data));
      expect(Buffer.from(back.modules.get(m)!.B.data)).toEqual(Buffer.from(B.data));
    }
    const g = logitsOf('tiny-gqa', (m) => loadAdapter(dir, m));
    expect(maxAbsDiff(g.logits(), logits())).toBe(0);
  });
});

/** A copy of the reference adapter with its config edited and/or its tensors replaced. */
async function variant(
  edit: (cfg: Record<string, unknown>) => void,
  tensors?: (names: string[]) => { name: string; shape: number[] }[],
): Promise<string> {
  const dir = tempDir('peft-bad');
  const cfg = JSON.parse(fs.readFileSync(path.join(ADAPTER, 'adapter_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  edit(cfg);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(cfg));
  if (!tensors)
    fs.copyFileSync(
      path.join(ADAPTER, 'adapter_model.safetensors'),
      path.join(dir, 'adapter_model.safetensors'),
    );
  else {
    const src = openSafetensorsSync(path.join(ADAPTER, 'adapter_model.safetensors'));
    await writeSafetensors(
      path.join(dir, 'adapter_model.safetensors'),
      tensors(src.names()).map(({ name, shape }) => ({
        name,
        dtype: 'F32' as const,
        shape,
        data: new Uint8Array(4 * shape.reduce((p, d) => p * d, 1)),
      })),
    );
  }
  return dir;
}

describe('bad adapters name what to fix', () => {
  it('refuses PEFT features that are not plain LoRA', async () => {
    const cases: [(c: Record<string, unknown>) => void, RegExp][] = [
      [(c) => (c.use_dora = true), /DoRA adapters are not supported/],
      [(c) => (c.peft_type = 'IA3'), /only LoRA adapters/],
      [(c) => (c.bias = 'all'), /bias "none"/],
      [(c) => (c.modules_to_save = ['lm_head']), /modules_to_save/],
      [(c) => (c.rank_pattern = { q_proj: 8 }), /rank_pattern/],
      [(c) => (c.target_modules = '.*proj'), /regular expression is not supported/],
      [(c) => (c.fan_in_fan_out = true), /fan_in_fan_out/],
      [(c) => (c.r = 0), /r must be a positive integer/],
      [(c) => (c.r = 8), /not rank r=8/],
    ];
    for (const [edit, msg] of cases) {
      const dir = await variant(edit);
      expect(() => readPeftAdapter(dir)).toThrow(PeftError);
      expect(() => readPeftAdapter(dir)).toThrow(msg);
    }
  });

  it('refuses folders without the files, or tensors that are not LoRA pairs', async () => {
    expect(() => readPeftAdapter(tempDir('peft-empty'))).toThrow(/has no adapter_config.json/);
    const noB = await variant(
      () => {},
      (names) => names.filter((n) => !n.includes('lora_B')).map((name) => ({ name, shape: [4, 96] })),
    );
    expect(() => readPeftAdapter(noB)).toThrow(/has lora_A of .* but not lora_B/);
    const stray = await variant(
      () => {},
      () => [{ name: 'base_model.model.lm_head.weight', shape: [2, 2] }],
    );
    expect(() => readPeftAdapter(stray)).toThrow(/not a LoRA matrix/);
  });

  itFx('refuses an adapter trained on another base model', async () => {
    // tiny-gqa's adapter on tiny-mha: 64 wide instead of 96
    const mha = loadFixture<Expected>('tiny-mha');
    expect(() => loadAdapter(ADAPTER, mha.model)).toThrow(AdapterMismatchError);
    expect(() => loadAdapter(ADAPTER, mha.model)).toThrow(
      /q_proj is \[64, 64\] in the model.*another base model/,
    );
    // a layer the model does not have
    const deep = await variant(
      () => {},
      () => [
        { name: 'base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight', shape: [4, 96] },
        { name: 'base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight', shape: [96, 4] },
      ],
    );
    const gqa = loadFixture<Expected>('tiny-gqa');
    expect(() => loadAdapter(deep, gqa.model)).toThrow(
      /adapts model.layers.7.self_attn.q_proj, which the model does not have \(it has 2 layers\)/,
    );
  });
});
