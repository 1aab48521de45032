/**
 * LLM inference, ours vs llama.cpp (node-llama-cpp, CPU, 2 threads), on the same weights:
 *
 *   npm run bench -- infer [--layers 4] [--passes 3] [--prompt 512] [--decode 128] [--kv-cache bf16|f32]
 *                          [--max-wait 120] [--no-wait] [--no-rss] [--no-quant]
 *
 * A MiniCPM-2B-shaped model (d 2304, ff 5760, 36 heads, vocab 122753, tied head; only `--layers` layers so
 * a pass fits the time) with random weights from MiniCPM.init is exported with our GGUF writer (f32, and
 * bf16 for the peer) and loaded by llama.cpp in the same run. Prefill: `--prompt` tokens in one call, logits
 * of the last position only (as llama.cpp computes them). Decode: `--decode` greedy single-token steps with a
 * KV cache after the prompt. Our bf16 rows keep 2-D weights in bf16 (f32 activations, vdpbf16ps). Both
 * engines keep a 16-bit KV cache by default, as llama.cpp does (its default f16; ours bf16 via --kv-cache).
 *
 * Noise: the machine is a shared VM whose free memory bandwidth drifts by ~2x within minutes, and decode
 * is bandwidth bound. So each pass runs ours and llama.cpp side by side on one dtype: prefills back to
 * back, then decode in turns of 16 tokens (alternating who goes first), after waiting for idle CPUs; rows
 * are medians over passes. Decode rows report the fraction of the bandwidth bound (bytes read per token:
 * every matrix once, the tied head, and the KV cache the attention streams; and of the weights alone, as
 * earlier results counted) at 55 GB/s (an idle machine) and at the 2-thread DRAM read
 * bandwidth probed just before and after that pass's decode (bench/peers/limits.c, through a child started
 * before the models exist: limitsProbeServer says why this process must not fork once it is large).
 * Quantized rows (--no-quant skips them): `decode q4` / `prefill q4`, our W4 g32 (an AutoGPTQ folder of the
 * same weights, RTN, on the int4 kernels) vs llama.cpp on a Q4_0 export; `decode q8` / `prefill q8`, our W8 (symmetric
 * per 32) vs Q8_0. Both of ours use --head-dtype int8, as the Q4_0/Q8_0 exports keep the tied table in
 * Q8_0 (so both heads are 8-bit per 32 with an fp16 scale: 0.31 GB of a W4 token's 0.45 GB). Each side's
 * decode bound counts the bytes it actually streams: ours codes, fp16 scales and u8 zeros; llama.cpp's
 * Q4_0 (18 bytes per 32) or Q8_0 (34 per 32) blocks; the rows and the table say both, layers and head apart.
 * Also: our peak RSS loading a bf16 safetensors checkpoint of the same model, and the W4 folder (a child
 * process each).
 * Writes bench/results/infer.json. Parts: infer/shape.ts (model, FLOP and byte counts), infer/decoders.ts
 * (the two sides taking turns), infer/quantized.ts (our W4/W8 models), infer/rows.ts (rows and table),
 * infer/rss.ts (the peak-RSS child).
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/backends/index.js';
import { configToHF } from '../src/models/config.js';
import { exportModelToGguf } from '../src/models/gguf-export.js';
import { KVCache, type KVCacheDtype } from '../src/models/kv-cache.js';
import { MiniCPM } from '../src/models/minicpm.js';
import { Rng } from '../src/tensor/index.js';
import { syntheticGgufVocab } from '../src/tokenizer/gguf-export.js';
import {
  bf16Copy,
  oursDecoder,
  pairedPass,
  peerDecoder,
  THREADS,
  type Nlc,
  type PairedPass,
} from './infer/decoders.js';
import { loadGptq, w8Copy, writeGptqFolder } from './infer/quantized.js';
import { decodeRow, type Dt, type Measured, prefillRow, printTable, type Row, series } from './infer/rows.js';
import { folderBytes, rssChild, rssOf, writeBf16Checkpoint } from './infer/rss.js';
import {
  type DecodeBytes,
  forwardFlops,
  ggufDecodeBytes,
  kvDecodeBytes,
  layerParams,
  matrixParams,
  minicpm2bShape,
} from './infer/shape.js';
import { limitsProbeServer, waitIdle } from './lib/machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Decode alternates ours and the peer every this many tokens. */
const DECODE_CHUNK = 16;
/** The read-bandwidth probe's buffer: far beyond L3, as the weights are. */
const PROBE_BYTES = 1 << 30;

const total = (b: DecodeBytes) => b.layers + b.head;

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export default async function infer(args: string[]): Promise<void> {
  const rc = args.indexOf('--rss-child');
  if (rc >= 0) return rssChild(args[rc + 1], args.includes('--quantized'));
  const quant = !args.includes('--no-quant');
  const layers = arg(args, 'layers', 4);
  const passes = arg(args, 'passes', 3);
  const nPrompt = arg(args, 'prompt', 512);
  const nDecode = arg(args, 'decode', 128);
  const kvAt = args.indexOf('--kv-cache');
  const kvCache: KVCacheDtype = kvAt >= 0 && args[kvAt + 1] === 'f32' ? 'f32' : 'bf16';
  const maxWait = args.includes('--no-wait') ? 0 : arg(args, 'max-wait', 120);

  let nlc: Nlc | undefined;
  let peerMissing = '';
  try {
    nlc = await import('node-llama-cpp');
  } catch (e) {
    peerMissing = `node-llama-cpp is not installed (npm i -D node-llama-cpp): ${(e as Error).message}`;
    console.warn(`PEER MISSING: ${peerMissing}`);
  }

  useBackend('auto');
  // the bandwidth probe's child, started while this process is small (limitsProbeServer says why)
  const probe = limitsProbeServer();
  const config = minicpm2bShape(layers);
  const weightsF32 = matrixParams(config) * 4;
  // float rows: every layer matrix and the tied head, 4 or 2 bytes a parameter
  const floatBytes = (bytesPer: number): DecodeBytes => ({
    layers: layerParams(config) * bytesPer,
    head: config.vocabSize * config.hiddenSize * bytesPer,
  });
  console.log(
    `MiniCPM-2B-shaped, ${layers} layers: ${(matrixParams(config) / 1e6).toFixed(0)}M matrix params, ` +
      `${(weightsF32 / 1e9).toFixed(2)} GB f32 read per decoded token; prompt ${nPrompt}, decode ${nDecode}, ${THREADS} threads, our KV cache ${kvCache}`,
  );
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'minicpm-bench-infer-'));
  try {
    const t0 = performance.now();
    const model = MiniCPM.init(config, new Rng(1234));
    console.log(`  init ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const vocab = syntheticGgufVocab(config.vocabSize);
    const files: Record<Dt, string> = {
      f32: path.join(tmp, 'm-f32.gguf'),
      bf16: path.join(tmp, 'm-bf16.gguf'),
      q4: path.join(tmp, 'm-q4_0.gguf'),
      q8: path.join(tmp, 'm-q8_0.gguf'),
    };
    const dts: Dt[] = quant ? ['f32', 'bf16', 'q4', 'q8'] : ['f32', 'bf16'];
    for (const dt of dts) {
      const t = performance.now();
      const dtype = dt === 'q4' ? 'q4_0' : dt === 'q8' ? 'q8_0' : dt;
      await exportModelToGguf(model, files[dt], { dtype, tokenizer: vocab, name: 'bench' });
      console.log(
        `  exported ${dt} GGUF ${(statSync(files[dt]).size / 1e9).toFixed(2)} GB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    const modelBf16 = bf16Copy(model);
    const w4Dir = path.join(tmp, 'w4');
    const ours: Record<Dt, { model: MiniCPM; bytes: DecodeBytes } | null> = {
      f32: { model, bytes: floatBytes(4) },
      bf16: { model: modelBf16, bytes: floatBytes(2) },
      q4: null,
      q8: null,
    };
    if (quant) {
      const t = performance.now();
      await writeGptqFolder(model, w4Dir);
      ours.q4 = await loadGptq(w4Dir);
      ours.q8 = w8Copy(model);
      console.log(
        `  W4 folder written and loaded, W8 made in ${((performance.now() - t) / 1000).toFixed(1)} s: ` +
          `${(total(ours.q4.bytes) / 1e9).toFixed(3)} / ${(total(ours.q8.bytes) / 1e9).toFixed(3)} GB read per token`,
      );
    }
    let s = 99;
    const prompt = Array.from(
      { length: nPrompt },
      () => 3 + (((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % (config.vocabSize - 3)),
    );

    const llama = nlc ? await nlc.getLlama({ gpu: false, build: 'never' }) : undefined;
    const OURS = (dt: Dt) => {
      const o = ours[dt];
      if (!o) throw new Error(`no ${dt} model (--no-quant)`);
      return o;
    };
    /** Ours and llama.cpp per row kind. */
    const S = {
      ours: { f32: series(), bf16: series(), q4: series(), q8: series() } as Record<
        Dt,
        ReturnType<typeof series>
      >,
      peer: { f32: series(), bf16: series(), q4: series(), q8: series() } as Record<
        Dt,
        ReturnType<typeof series>
      >,
    };
    /** DRAM read GB/s (2 threads) sampled around each decode, for the bound actually available then. */
    const bandwidth: Record<Dt, number[]> = { f32: [], bf16: [], q4: [], q8: [] };
    const readProbe = async () =>
      probe ? (await probe.probe('read', String(THREADS), String(PROBE_BYTES))) * 1e9 : NaN;
    for (let p = 0; p < passes; p++) {
      const busy = maxWait ? await waitIdle(maxWait) : 0;
      let line = `  pass ${p + 1} (busy ${(busy * 100).toFixed(0)}%):`;
      for (const dt of dts) {
        if (maxWait) await waitIdle(maxWait);
        let before = NaN;
        const ours = oursDecoder(OURS(dt).model, prompt, nDecode, kvCache);
        const peer = llama ? await peerDecoder(llama, files[dt], prompt, nDecode) : null;
        let r: PairedPass;
        try {
          r = await pairedPass(
            ours,
            peer,
            nDecode,
            DECODE_CHUNK,
            p % 2 === 1,
            async () => void (before = await readProbe()),
          );
        } finally {
          await ours.dispose();
          await peer?.dispose();
        }
        const bw = (before + (await readProbe())) / 2;
        if (Number.isFinite(bw)) bandwidth[dt].push(bw);
        const mine = S.ours[dt];
        mine.prefill.push(r.ours.prefillS);
        mine.decode.push(r.ours.decodeS);
        line += ` ${dt}: ours prefill ${r.ours.prefillS.toFixed(2)} s, decode ${(nDecode / r.ours.decodeS).toFixed(2)} tok/s`;
        if (r.peer) {
          S.peer[dt].prefill.push(r.peer.prefillS);
          S.peer[dt].decode.push(r.peer.decodeS);
          line += `, llama.cpp ${r.peer.prefillS.toFixed(2)} s, ${(nDecode / r.peer.decodeS).toFixed(2)} tok/s`;
        }
        if (Number.isFinite(bw)) line += ` (DRAM ${(bw / 1e9).toFixed(1)} GB/s);`;
      }
      console.log(line);
    }
    await llama?.dispose();

    const perPosition = (dt: KVCacheDtype) =>
      KVCache.bytesPerPosition(dt, config.numLayers, config.numKvHeads, config.headDim);
    const m: Measured = {
      nPrompt,
      nDecode,
      kvCache,
      peerName: nlc ? 'llama.cpp' : `llama.cpp (missing: ${peerMissing})`,
      prefillFlops: forwardFlops(config, nPrompt, 0, 1),
      ours: S.ours,
      peer: S.peer,
      bandwidth,
      kvBytes: {
        ours: kvDecodeBytes(perPosition(kvCache), nPrompt, nDecode),
        peer: kvDecodeBytes(perPosition('bf16'), nPrompt, nDecode), // its f16 cache: 2 bytes too
      },
      bytes: (dt) => {
        const ours = OURS(dt).bytes;
        return {
          ours,
          peer: dt === 'q4' || dt === 'q8' ? ggufDecodeBytes(config, dt === 'q4' ? 'q4_0' : 'q8_0') : ours,
        };
      },
    };
    const rows: Row[] = [
      prefillRow(m, 'f32'),
      decodeRow(m, 'f32'),
      prefillRow(m, 'bf16'),
      decodeRow(m, 'bf16'),
    ];
    if (quant) rows.push(prefillRow(m, 'q4'), decodeRow(m, 'q4'), prefillRow(m, 'q8'), decodeRow(m, 'q8'));

    // peak RSS of loading a bf16 safetensors checkpoint of this model, in a fresh process
    let rss: Record<string, unknown> | undefined;
    let rssW4: Record<string, unknown> | undefined;
    if (!args.includes('--no-rss')) {
      const ck = path.join(tmp, 'ck-bf16');
      rss = rssOf(ck, await writeBf16Checkpoint(model, ck), false, weightsF32);
      console.log(`  peak RSS loading the bf16 checkpoint: ${JSON.stringify(rss)}`);
      if (quant) {
        rssW4 = rssOf(w4Dir, folderBytes(w4Dir), true, weightsF32);
        console.log(`  peak RSS loading the W4 folder: ${JSON.stringify(rssW4)}`);
      }
    }

    printTable(rows);
    const out = path.join(here, 'results', 'infer.json');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          config: {
            ...configToHF(config),
            note: 'MiniCPM-2B width, reduced depth, random weights (MiniCPM.init)',
          },
          threads: THREADS,
          passes,
          prompt_tokens: nPrompt,
          decode_tokens: nDecode,
          date: new Date().toISOString(),
          peak_rss_load_bf16: rss ?? null,
          peak_rss_load_w4: rssW4 ?? null,
          rows,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
    model.parameters().forEach((t) => t.dispose());
  } finally {
    probe?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
