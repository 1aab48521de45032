// GGUF files as runnable models for the commands (generate, serve, eval, logits, perplexity).
//
// * Q4_0 and Q8_0 decoder matrices (and an untied Q8_0/Q4_0 head) stay quantized: their rows are
//   repacked losslessly into W4 (code q, zero 8, scale d) and W8 (code q + 128, zero 128, scale d) and
//   run on the int4/int8 kernels through model.linearRunner. q/k rows are put back into rotate-half order
//   on the raw blocks (each row is whole blocks), so no float copy of these matrices ever exists.
// * A Q8_0/Q4_0 embedding stays quantized too: lookups dequantize only the rows they read (the runner's
//   int8/int4 table, as --head-dtype int8 does), and when tied the same W8/W4 matrix is the head.
// * Q4_K and Q6_K (and any Q8_0/Q4_0 1-D tensor) are dequantized to f32, or bf16 with --dtype bf16.
// Whatever is dequantized is reported in one line on stderr: nothing falls silently onto a slow path.

import { hfToGgufName, openGgufSync, unpermuteQK, type GgufFile, type GgufTensorInfo } from '../io/index.js';
import { configFromGguf, ggufTensorReader } from '../models/gguf-load.js';
import { MiniCPM, parameterShapes } from '../models/minicpm.js';
import {
  assertSane,
  recordToBf16,
  recordToTensor,
  WeightsMismatchError,
  type LoadOptions,
} from '../models/weights.js';
import { Tensor } from '../tensor/index.js';
import { QuantizedLinears } from './qlinear.js';
import type { QWeight } from './qweight.js';
import { repackQ4_0, repackQ8_0 } from './qweight-repack.js';

export interface GgufModelReport {
  /** Matrices on the int4/int8 kernels, by ggml type. */
  native: Record<string, number>;
  /** Tensors dequantized on load (HF names), with their ggml type. */
  dequantized: { name: string; type: string }[];
}

/** Repacks one Q4_0/Q8_0 matrix (raw GGUF rows) into a QWeight, q/k rows back in rotate-half order. */
function repack(t: GgufTensorInfo, raw: Uint8Array, heads: number | null, name: string): QWeight {
  const [out, cols] = t.shape;
  const rows =
    heads === null
      ? raw
      : unpermuteQK({ name, dtype: 'U8', shape: [out, raw.byteLength / out], data: raw }, heads).data;
  return t.typeName === 'Q4_0' ? repackQ4_0(rows, out, cols, name) : repackQ8_0(rows, out, cols, name);
}

/**
 * Loads a MiniCPM GGUF, Q4_0/Q8_0 matrices on the quantized kernels; `report` describes what ran where.
 * `source` is a path, or a GgufFile opened on any byte source (GgufFile.fromSource: the browser page);
 * either way the file is closed when this returns.
 */
export function loadGgufModelWithReport(
  source: string | GgufFile,
  opts: LoadOptions = {},
): { model: MiniCPM; report: GgufModelReport } {
  const file = typeof source === 'string' ? openGgufSync(source) : source;
  const path = file.path;
  try {
    const config = configFromGguf(file);
    assertSane(config);
    const reader = ggufTensorReader(file, config);
    const params = new Map<string, Tensor>();
    const quantized = new Map<string, QWeight>();
    const report: GgufModelReport = { native: {}, dequantized: [] };
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    let embedding: QWeight | null = null;
    const dense = (name: string, shape: number[]): void => {
      const info = reader.info(name); // typed errors for unsupported types and missing tensors
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
        throw new WeightsMismatchError(
          `${path}: the file's metadata implies ${name} is [${shape.join(', ')}] but its tensor is [${info.shape.join(', ')}]`,
        );
      const rec = reader.readSync(name);
      const g = byName.get(hfToGgufName(name)!)!;
      if (!g.dtype) report.dequantized.push({ name, type: g.typeName });
      if (opts.weightDtype === 'bf16' && shape.length === 2) {
        const t = recordToBf16(rec).keep();
        t.name = name;
        params.set(name, t);
      } else params.set(name, Tensor.parameter(recordToTensor(rec), name));
    };
    for (const [name, shape] of parameterShapes(config)) {
      const ggufName = hfToGgufName(name);
      const g = ggufName === undefined ? undefined : byName.get(ggufName);
      const module = name.slice(0, -'.weight'.length);
      const q = g && (g.typeName === 'Q4_0' || g.typeName === 'Q8_0') && shape.length === 2;
      if (q && g.shape[0] === shape[0] && g.shape[1] === shape[1]) {
        const heads = name.endsWith('q_proj.weight')
          ? config.numHeads
          : name.endsWith('k_proj.weight')
            ? config.numKvHeads
            : null;
        const w = repack(g, file.readRawSync(g.name), heads, name);
        report.native[g.typeName] = (report.native[g.typeName] ?? 0) + 1;
        if (name === 'model.embed_tokens.weight') {
          embedding = w;
          if (config.tieWordEmbeddings) quantized.set('lm_head', w);
        } else quantized.set(module, w);
        continue;
      }
      dense(name, shape);
    }
    const model = new MiniCPM(config, params);
    if (quantized.size || embedding) {
      const runner = new QuantizedLinears(quantized, (m) => model.p(`${m}.weight`));
      runner.embedding = embedding;
      model.linearRunner = runner;
    }
    return { model, report };
  } finally {
    void file.close();
  }
}

/** The one line that says which tensors run dequantized (undefined when none do). */
export function dequantizedNote(path: string, r: GgufModelReport, dtype = 'f32'): string | undefined {
  if (!r.dequantized.length) return undefined;
  const counts: Record<string, number> = {};
  for (const d of r.dequantized) counts[d.type] = (counts[d.type] ?? 0) + 1;
  const types = Object.entries(counts)
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
  return `${path}: ${r.dequantized.length} quantized tensors (${types}) run through dequantization to ${dtype}`;
}

/** Loads a MiniCPM GGUF; `note` receives the line that reports dequantized tensors (default: stderr). */
export function loadGgufModel(
  path: string,
  opts: LoadOptions = {},
  note: (line: string) => void = (l) => void process.stderr.write(`${l}\n`),
): Promise<MiniCPM> {
  const { model, report } = loadGgufModelWithReport(path, opts);
  const line = dequantizedNote(path, report, opts.weightDtype ?? 'f32');
  if (line) note(line);
  return Promise.resolve(model);
}
