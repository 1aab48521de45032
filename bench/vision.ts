/**
 * `npm run bench -- vision [--quick]`: images/s of the MiniCPM-V 1.0 vision tower + resampler
 * (so400m shape: 1152 wide, 16 heads, MLP 4304, 26 blocks, 448² → 32×32 patches, 64 queries into
 * 2304) with random weights, ours in f32 and with bf16 weights, against a plain-PyTorch eager forward
 * (bench/peers/torch_vision.py; Debian python3-torch, same threads) in the same run, alternating
 * passes; then time to first token of a one-image prompt on a 2304-wide MiniCPM-V with 4 LM layers
 * (bf16). Writes bench/results/vision.json. `--quick` shrinks everything to check that it runs;
 * `--blocks N` keeps the so400m width with N blocks and `--passes N` sets the passes (not recorded).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBackend } from '../src/backends/index.js';
import { Sampler } from '../src/engine/sampler.js';
import { KVCache } from '../src/models/kv-cache.js';
import { parameterShapes } from '../src/models/minicpm.js';
import { minicpmvConfigFromHF, type MiniCPMVConfig } from '../src/models/minicpmv-config.js';
import { initVisionParams } from '../src/models/minicpmv-init.js';
import { MiniCPMV, MiniCPMVLanguage } from '../src/models/minicpmv.js';
import { normal } from '../src/nn/init.js';
import { cast, noGrad, Rng, scope, setBackend, slice, Tensor } from '../src/tensor/index.js';
import { median } from './lib/machine.js';

const here = dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';
const THREADS = 2;

/**
 * The peer needs python3-torch and an optimised libblas.so.3: Debian's torch calls the system BLAS for
 * its linears, and with only libblas3 installed that is the unblocked reference BLAS (~100× slower),
 * so libopenblas0-pthread is installed too (it takes over libblas.so.3 through the alternatives).
 */
function torchReady(): string | null {
  const probe = () => spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  const openblas = () =>
    spawnSync('update-alternatives', ['--query', 'libblas.so.3-x86_64-linux-gnu'], {
      encoding: 'utf8',
    }).stdout?.includes('Value: /usr/lib/x86_64-linux-gnu/openblas') ?? false;
  const need = [...(probe() ? [] : ['python3-torch']), ...(openblas() ? [] : ['libopenblas0-pthread'])];
  if (need.length) {
    console.log(`installing the peer: apt-get install -y ${need.join(' ')}`);
    spawnSync('apt-get', ['install', '-y', ...need], { stdio: 'ignore' });
  }
  if (!probe()) return 'python3-torch could not be installed';
  return openblas() ? null : 'libblas.so.3 is not OpenBLAS (install libopenblas0-pthread)';
}

function peerSeconds(c: MiniCPMVConfig, reps: number): number {
  const v = c.vision;
  const args = [
    v.hiddenSize,
    v.numHeads,
    v.intermediateSize,
    v.numLayers,
    v.patchSize,
    c.imageSize,
    v.posGrid,
  ];
  const r = spawnSync(
    PY,
    [join(here, 'peers', 'torch_vision.py'), ...[...args, c.queryNum, c.embedDim, THREADS, reps].map(String)],
    {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: String(THREADS), OPENBLAS_NUM_THREADS: String(THREADS) },
    },
  );
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { median_s: number }).median_s;
}

/** Seconds per image of ours (median of `reps` after one warm-up). */
function oursSeconds(model: MiniCPMV, pixels: Tensor, reps: number): number {
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    noGrad(() => scope(() => model.encodePixels(pixels).toArray()));
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

/** Linear weights (2-D, multiplied transposed) as bf16, the rest shared. */
function toBf16(params: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of params) {
    const linear = t.rank === 2 && name.endsWith('weight');
    out.set(name, linear ? noGrad(() => cast(t, 'bf16')).keep() : t);
  }
  return out;
}

/** A random bf16 language model, tensor by tensor (never a whole f32 copy in memory). */
function randomLanguageModel(c: MiniCPMVConfig, rng: Rng): MiniCPMVLanguage {
  const params = new Map<string, Tensor>();
  for (const [name, shape] of parameterShapes(c.llm)) {
    if (shape.length === 1) params.set(name, Tensor.ones(shape).keep());
    else {
      const f = normal(rng, shape, 0.02);
      params.set(name, noGrad(() => cast(f, 'bf16')).keep());
      f.dispose();
    }
  }
  return new MiniCPMVLanguage(c.llm, params, c.queryNum);
}

export default function main(args: string[]): void {
  const quick = args.includes('--quick');
  const flag = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  // --blocks N: so400m width with N blocks (a partial measurement, not recorded); --passes N
  const blocks = flag('--blocks');
  const backend = nativeBackend();
  if (!backend) throw new Error('the native backend is not built: run `npm run build-native`');
  setBackend(backend);
  const config = minicpmvConfigFromHF({
    model_type: 'minicpmv',
    vocab_size: quick ? 4096 : 122753,
    hidden_size: quick ? 256 : 2304,
    intermediate_size: quick ? 640 : 5760,
    num_hidden_layers: quick ? 2 : 4,
    num_attention_heads: quick ? 4 : 36,
    scale_emb: 12,
    dim_model_base: 256,
    scale_depth: 1.4,
    tie_word_embeddings: false,
    query_num: 64,
    image_size: quick ? 112 : 448,
    ...(quick
      ? {
          vision_config: {
            hidden_size: 128,
            num_attention_heads: 2,
            intermediate_size: 256,
            num_hidden_layers: 3,
            patch_size: 14,
            image_size: 84,
          },
        }
      : blocks
        ? {
            // so400m with fewer blocks: a quicker look at the same per-block work
            vision_config: {
              hidden_size: 1152,
              num_attention_heads: 16,
              intermediate_size: 4304,
              num_hidden_layers: blocks + 1,
              patch_size: 14,
              image_size: 384,
            },
          }
        : { vision_encoder: 'vit_so400m_patch14_siglip_384.webli', drop_vision_last_layer: true }),
  });
  const missing = torchReady();
  const rng = new Rng(0);
  const S = config.imageSize;
  const pixels = Tensor.from(
    Float32Array.from({ length: 3 * S * S }, () => rng.normal()),
    [1, 3, S, S],
  ).keep();
  const f32Params = initVisionParams(config, rng);
  const bf16Params = toBf16(f32Params);
  const lm = randomLanguageModel(config, rng);
  const f32 = new MiniCPMV(config, f32Params, lm);
  const bf16 = new MiniCPMV(config, bf16Params, lm);
  const passes = flag('--passes') ?? (quick ? 1 : 3);
  const reps = quick ? 1 : 2;
  const ours: number[] = [];
  const oursBf16: number[] = [];
  const peer: number[] = [];
  for (let p = 0; p < passes; p++) {
    ours.push(oursSeconds(f32, pixels, reps));
    oursBf16.push(oursSeconds(bf16, pixels, reps));
    if (!missing) peer.push(peerSeconds(config, reps));
    console.log(
      `pass ${p + 1}: ours f32 ${ours[p].toFixed(3)} s, ours bf16 ${oursBf16[p].toFixed(3)} s` +
        (missing ? '' : `, pytorch f32 ${peer[p].toFixed(3)} s`),
    );
  }
  // Time to first token: decode, encode the image, prefill <s><用户><image>64×<unk></image>\n + 12 ids <AI>, sample.
  const Q = config.queryNum;
  const ids = [
    1,
    95396,
    4194,
    95388,
    101,
    ...new Array<number>(Q).fill(0),
    102,
    5,
    ...Array.from({ length: 12 }, (_, i) => 1000 + i),
    95396,
    10850,
    95388,
  ].map((id) => id % config.llm.vocabSize);
  const ttft: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    noGrad(() =>
      scope(() => {
        const tokens = bf16.encodePixels(pixels);
        const cache = new KVCache(
          config.llm.numLayers,
          1,
          config.llm.numKvHeads,
          config.llm.headDim,
          ids.length + 1,
        );
        const h = bf16.llm
          .withImages([[tokens]])
          .hidden(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32'), cache);
        const logits = bf16.llm.logitsFromHidden(slice(h, 1, ids.length - 1, ids.length)).toArray();
        new Sampler({ greedy: true }).sample(Float32Array.from(logits), ids);
        cache.dispose();
      }),
    );
    if (i > 0) ttft.push((performance.now() - t0) / 1000);
  }
  const o = median(ours);
  const ob = median(oursBf16);
  const pe = missing ? null : median(peer);
  const v = config.vision;
  const shape = `${S}² ${v.hiddenSize}w ${v.numLayers} blocks + resampler ${Q}q→${config.embedDim}`;
  const rows = [
    {
      name: `vision tower + resampler f32 ${shape} ${THREADS}t`,
      unit: 'images/s',
      ours: 1 / o,
      peer: missing ? `pytorch (missing: ${missing})` : 'pytorch eager f32 (OpenBLAS)',
      peer_value: pe ? 1 / pe : null,
      ratio: pe ? pe / o : null,
    },
    {
      name: `vision tower + resampler bf16 weights ${shape} ${THREADS}t`,
      unit: 'images/s',
      ours: 1 / ob,
      peer: 'ours f32',
      peer_value: 1 / o,
      ratio: o / ob,
    },
    {
      name: `time to first token, one image, ${config.llm.hiddenSize}-wide LM × ${config.llm.numLayers} layers, bf16, ${ids.length} prompt ids`,
      unit: 's',
      ours: median(ttft),
      peer: null,
      peer_value: null,
      ratio: null,
    },
  ];
  console.table(rows);
  if (quick || blocks) return; // smoke runs and partial towers are not recorded
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'vision.json'), JSON.stringify({ rows }, null, 1) + '\n');
}
