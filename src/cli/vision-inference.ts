/**
 * MiniCPM-V in `minicpm generate` and `minicpm logits`: a model folder whose config is MiniCPM-V's, or
 * any `--image`, routes here. Each image is decoded (Pillow-equal), run through the vision tower and
 * resampler once, and spliced into its `<image>…</image>` span.
 */
import fs from 'node:fs';
import type { KVCacheDtype } from '../models/kv-cache.js';
import { generate } from '../engine/generate.js';
import { decodeImage } from '../image/index.js';
import { readConfig } from '../io/hf-folder.js';
import { writeSafetensors } from '../io/safetensors.js';
import { IMAGE_END_ID, IMAGE_START_ID } from '../models/minicpmv-config.js';
import { loadVlmAdapter } from '../align/vlm-lora.js';
import { isMiniCPMVConfig, loadMiniCPMV } from '../models/minicpmv-load.js';
import { imageSpans, ImageSpanError } from '../models/minicpmv-splice.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { crossEntropy, noGrad, reshape, Tensor } from '../tensor/index.js';
import { loadModelTokenizer } from './model-tokenizer.js';

export class VisionCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VisionCliError';
  }
}

/** SPEC.md §10's sampling defaults for MiniCPM-V chat. */
export const MINICPMV_SAMPLING = { topP: 0.8, topK: 100, temperature: 0.6 } as const;

/** Whether `dir` is a MiniCPM-V folder (false for anything without a readable config.json). */
export async function isVisionFolder(dir: string): Promise<boolean> {
  try {
    return isMiniCPMVConfig(await readConfig(dir));
  } catch {
    return false;
  }
}

async function loadVisionModel(dir: string, weightDtype: 'f32' | 'bf16'): Promise<MiniCPMV> {
  if (!(await isVisionFolder(dir)))
    throw new VisionCliError(
      `--image needs a MiniCPM-V model folder, but ${dir}/config.json describes a text-only model`,
    );
  return loadMiniCPMV(dir, { weightDtype });
}

/** Each image file's tokens [1, query_num, E], the vision tower run once per image. */
async function encodeImages(model: MiniCPMV, files: string[]): Promise<Tensor[]> {
  const out: Tensor[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) throw new VisionCliError(`image ${file} does not exist`);
    const img = await decodeImage(fs.readFileSync(file), { what: file });
    out.push(noGrad(() => model.encodeImage(img)).keep());
  }
  return out;
}

/**
 * MiniCPM-V 1.0's chat prompt: `<s><用户>` + per image `<image>` + query_num × `<unk>` + `</image>`, then
 * `\n` + question + `<AI>`. The image markers are ids (MiniCPM-V's tokenizer maps the strings to 101 and
 * 102); the text pieces go through the tokenizer.
 */
export function visionPromptIds(
  tok: Tokenizer,
  question: string,
  images: number,
  queryNum: number,
): number[] {
  const ids = [tok.bosId, ...tok.encode('<用户>')];
  for (let i = 0; i < images; i++)
    ids.push(IMAGE_START_ID, ...new Array<number>(queryNum).fill(tok.unkId), IMAGE_END_ID);
  ids.push(...tok.encode(`${images ? '\n' : ''}${question}<AI>`));
  return ids;
}

/** Hands images to rows in span order: the i-th span of the batch (row-major) takes the i-th image. */
export function imagesPerRow(rows: number[][], images: Tensor[], queryNum: number): Tensor[][] {
  const counts = rows.map((r) => imageSpans(r, queryNum).length);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== images.length) {
    throw new ImageSpanError(
      `the ids hold ${total} <image>…</image> span(s) but ${images.length} --image file(s) were given: pass one image per span, in order`,
    );
  }
  let at = 0;
  return counts.map((n) => images.slice(at, (at += n)));
}

export interface VisionGenerateOptions {
  model: string;
  image?: string[];
  prompt?: string;
  promptIds?: number[][];
  tokenizer?: string;
  dtype?: string;
  maxNewTokens: number;
  sampling: Record<string, number | boolean | undefined>;
  kvCacheDtype: KVCacheDtype;
  json?: boolean;
  stop?: string[];
  /** A LoRA folder of `sft --lora` on a MiniCPM-V (adapters and its trained resampler). */
  adapter?: string;
}

export async function visionGenerateCommand(o: VisionGenerateOptions): Promise<void> {
  const model = await loadVisionModel(o.model, o.dtype === 'bf16' ? 'bf16' : 'f32');
  if (o.adapter) loadVlmAdapter(o.adapter, model);
  const Q = model.config.queryNum;
  // Text needs the folder's tokenizer (or --tokenizer); ids alone do not.
  const tokenizer =
    o.prompt !== undefined || o.tokenizer || o.stop?.length
      ? loadModelTokenizer(o.tokenizer ?? o.model).tokenizer
      : null;
  if (!o.promptIds && o.prompt === undefined)
    throw new VisionCliError('pass --prompt TEXT or --prompt-ids JSON with the image spans in it');
  const files = o.image ?? [];
  const prompts = o.promptIds ?? [visionPromptIds(tokenizer!, o.prompt ?? '', files.length, Q)];
  if (prompts.length !== 1) throw new VisionCliError('generation with images takes one prompt');
  const images = imagesPerRow(prompts, await encodeImages(model, files), Q);
  const given = Object.fromEntries(Object.entries(o.sampling).filter(([, v]) => v !== undefined));
  const sampling = given.greedy ? given : { ...MINICPMV_SAMPLING, ...given };
  const out: number[] = [];
  let printed = '';
  const stops = o.stop ?? [];
  try {
    for await (const step of generate(model.llm.withImages(images), prompts, {
      ...sampling,
      maxNewTokens: o.maxNewTokens,
      kvCacheDtype: o.kvCacheDtype,
    })) {
      if (step.ids[0] >= 0) out.push(step.ids[0]);
      if (o.json) continue;
      if (!tokenizer) {
        process.stdout.write(`${step.ids[0]} `);
        continue;
      }
      let text = tokenizer.decode(out);
      const hit = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) text = text.slice(0, Math.min(...hit));
      const ready = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
      if (ready.startsWith(printed)) process.stdout.write(ready.slice(printed.length));
      printed = ready;
      if (hit.length) break;
    }
  } finally {
    images.flat().forEach((t) => t.dispose());
  }
  if (o.json) console.log(JSON.stringify({ ids: out }));
  else process.stdout.write('\n');
}

export async function visionLogitsCommand(o: {
  model: string;
  inputs: number[][];
  targets?: number[][];
  image?: string[];
  output: string;
  adapter?: string;
}): Promise<void> {
  const model = await loadVisionModel(o.model, 'f32');
  if (o.adapter) loadVlmAdapter(o.adapter, model);
  const [B, T] = [o.inputs.length, o.inputs[0].length];
  const images = imagesPerRow(o.inputs, await encodeImages(model, o.image ?? []), model.config.queryNum);
  const V = model.config.llm.vocabSize;
  const logits = noGrad(() =>
    model.forward(Tensor.from(Int32Array.from(o.inputs.flat()), [B, T], 'i32'), images),
  );
  const f = logits.data as Float32Array;
  await writeSafetensors(o.output, [
    {
      name: 'logits',
      dtype: 'F32',
      shape: [B, T, V],
      data: new Uint8Array(f.buffer, f.byteOffset, logits.size * 4),
    },
  ]);
  if (o.targets) {
    // Image rows predict nothing: their targets are the caller's to mask (−100).
    const loss = noGrad(() =>
      crossEntropy(reshape(logits, [-1, V]), Tensor.from(Int32Array.from(o.targets!.flat()), [B * T], 'i32')),
    );
    console.log(`loss ${loss.item()}`);
  }
}
