/** `minicpm quantize`: GPTQ int4 over a model folder, written in AutoGPTQ's layout (quant/). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadModel } from '../models/load.js';
import { isGptqBits, quantizeModel, readQuantizeConfigAny, saveQuantizedModel } from '../quant/index.js';
import { loadTokenizer } from '../tokenizer/index.js';

interface QuantizeCli {
  model: string;
  out: string;
  calibration?: string;
  calibrationIds?: string;
  samples: string;
  seqLen: string;
  bits: string;
  groupSize: string;
  actOrder: boolean;
  sym?: boolean;
  damp: string;
  trueSequential: boolean;
}

class QuantizeCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizeCliError';
  }
}

/** Text from a .txt file, or the "text" fields of a .jsonl file, joined by blank lines. */
function calibrationText(file: string): string {
  const raw = readFileSync(file, 'utf8');
  if (!file.endsWith('.jsonl')) return raw;
  return raw
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      const rec = JSON.parse(l) as { text?: unknown };
      if (typeof rec.text !== 'string')
        throw new QuantizeCliError(`${file}:${i + 1}: expected {"text": "..."}`);
      return rec.text;
    })
    .join('\n\n');
}

/** `samples` windows of `seqLen` tokens spread evenly over the tokenized text (BOS first). */
function calibrationWindows(ids: number[], bos: number, samples: number, seqLen: number): number[][] {
  const body = seqLen - (bos >= 0 ? 1 : 0);
  if (ids.length < body)
    throw new QuantizeCliError(
      `the calibration text has ${ids.length} tokens, fewer than one window of ${seqLen}: give more text or a smaller --seq-len`,
    );
  const n = Math.min(samples, Math.floor(ids.length / body));
  const stride = n > 1 ? Math.floor((ids.length - body) / (n - 1)) : 0;
  return Array.from({ length: n }, (_, i) => {
    const w = ids.slice(i * stride, i * stride + body);
    return bos >= 0 ? [bos, ...w] : w;
  });
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new QuantizeCliError(`${flag} must be a positive integer, got ${v}`);
  return n;
}

export async function quantizeCommand(o: QuantizeCli): Promise<void> {
  if (!o.calibration === !o.calibrationIds)
    throw new QuantizeCliError(
      'pass one of --calibration FILE (.txt or .jsonl) or --calibration-ids FILE (JSON [[ids]])',
    );
  const samples = positiveInt(o.samples, '--samples');
  const seqLen = positiveInt(o.seqLen, '--seq-len');
  const bits = positiveInt(o.bits, '--bits');
  // AutoGPTQ's int32 words hold 2-, 4- and 8-bit fields; its 3-bit layout crosses words (not written here)
  if (!isGptqBits(bits)) throw new QuantizeCliError(`--bits must be 2, 4 or 8, got ${o.bits}`);
  const groupSize = Number(o.groupSize);
  if (groupSize !== -1 && !(Number.isInteger(groupSize) && groupSize > 0))
    throw new QuantizeCliError(`--group-size must be -1 or a positive integer, got ${o.groupSize}`);
  if (existsSync(path.join(o.model, 'config.json')) && (await readQuantizeConfigAny(o.model)))
    throw new QuantizeCliError(
      `${o.model} is already a GPTQ folder (quantization_config): quantize the float checkpoint it came from`,
    );
  let calibration: number[][];
  if (o.calibrationIds) {
    const parsed = JSON.parse(readFileSync(o.calibrationIds, 'utf8')) as unknown;
    if (!Array.isArray(parsed) || !parsed.every((s) => Array.isArray(s) && s.every(Number.isInteger)))
      throw new QuantizeCliError(`${o.calibrationIds}: expected a JSON array of token id arrays`);
    calibration = (parsed as number[][]).slice(0, samples);
  } else {
    if (!existsSync(o.calibration!)) throw new QuantizeCliError(`${o.calibration} does not exist`);
    const tok = loadTokenizer(o.model).tokenizer;
    calibration = calibrationWindows(tok.encode(calibrationText(o.calibration!)), tok.bosId, samples, seqLen);
  }
  const model = await loadModel(o.model);
  const tokens = calibration.reduce((s, c) => s + c.length, 0);
  console.log(
    `GPTQ ${o.bits}-bit, groups of ${groupSize}, act-order ${o.actOrder}, ${o.sym ? 'symmetric' : 'asymmetric'}, ` +
      `true-sequential ${o.trueSequential}; calibration ${calibration.length} sequences, ${tokens} tokens`,
  );
  const t0 = performance.now();
  const q = quantizeModel(model, calibration, {
    bits,
    groupSize,
    actOrder: o.actOrder,
    sym: o.sym ?? false,
    damp: Number(o.damp),
    trueSequential: o.trueSequential,
    onLayer: (e) => console.log(`  ${e.name}  loss ${e.loss.toPrecision(4)}  ${e.seconds.toFixed(1)} s`),
  });
  if (q.skipped.length)
    console.log(
      `kept in floating point (shape not packable in ${o.bits}-bit words): ${q.skipped.join(', ')}`,
    );
  if (q.packed.size === 0)
    throw new QuantizeCliError(
      `no linear layer of ${o.model} has a shape that packs into ${bits}-bit AutoGPTQ words: nothing written`,
    );
  await saveQuantizedModel(o.out, q, { tokenizerFrom: o.model });
  console.log(
    `quantized ${q.packed.size} linear layers in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${path.resolve(o.out)}`,
  );
}

export function registerQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description('GPTQ int4 quantization (AutoGPTQ layout); generate/eval/serve load the result')
    .requiredOption('--model <dir>', 'Hugging Face model folder (f32 or bf16 weights)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--calibration <file>', 'calibration text (.txt, or .jsonl with a "text" field), tokenized')
    .option('--calibration-ids <file>', 'calibration token ids, a JSON array of arrays')
    .option('--samples <n>', 'calibration sequences', '128')
    .option('--seq-len <n>', 'tokens per calibration sequence', '512')
    .option('--bits <n>', 'bits per weight (2, 4 or 8)', '4')
    .option(
      '--group-size <n>',
      'input columns per group, or -1 for one per row (MiniCPM-2B-sft-int4: 32)',
      '32',
    )
    .option('--no-act-order', 'quantize columns in order instead of by descending Hessian diagonal')
    .option('--sym', 'symmetric quantization (default asymmetric, as MiniCPM-2B-sft-int4)')
    .option('--damp <x>', 'relative damping of the Hessian', '0.01')
    .option('--no-true-sequential', "quantize a layer's groups from its unquantized inputs")
    .action(quantizeCommand);
}
