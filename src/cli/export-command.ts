/** `minicpm export`: a Hugging Face MiniCPM or Llama folder → a GGUF file llama.cpp runs (arch "minicpm" or "llama"). */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { readConfig } from '../io/hf-folder.js';
import { configFromHF } from '../models/config.js';
import {
  exportFolderToGguf,
  GGUF_EXPORT_ARCHS,
  GGUF_EXPORT_DTYPES,
  GGUF_HEAD_DTYPES,
  ggufExportArch,
  type GgufHeadDType,
  type GgufExportArch,
  ggufTensorPlan,
  type GgufExportDType,
} from '../models/gguf-export.js';
import { ggufVocabFromTokenizer, syntheticGgufVocab, type GgufVocab } from '../tokenizer/gguf-export.js';
import { openAnyWeights } from '../quant/index.js';
import { loadTokenizer } from '../tokenizer/load.js';

class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

export interface ExportCli {
  model: string;
  format: string;
  output: string;
  dtype: string;
  /** auto (default) | minicpm | llama. */
  arch?: string;
  /** q8_0 (default) | q6_k: the embedding/head of q4_0 and q8_0 files. */
  headDtype?: string;
  tokenizer?: string;
  name?: string;
}

/**
 * The vocabulary to embed: --tokenizer, else a tokenizer.model in the model folder, else (models trained
 * on raw ids, such as the test fixtures) a synthetic placeholder vocabulary, because llama.cpp refuses
 * GGUF files without one. Returns what was used, for the message.
 */
export function exportVocab(
  modelDir: string,
  vocabSize: number,
  tokenizerPath?: string,
): { vocab: GgufVocab; source: string } {
  const found =
    tokenizerPath ?? (fs.existsSync(path.join(modelDir, 'tokenizer.model')) ? modelDir : undefined);
  if (found === undefined)
    return { vocab: syntheticGgufVocab(vocabSize), source: 'synthetic (no tokenizer)' };
  const loaded = loadTokenizer(found, { prefer: 'model' });
  return {
    vocab: ggufVocabFromTokenizer(loaded.tokenizer, vocabSize, { chatTemplate: loaded.chatTemplate }),
    source: loaded.path,
  };
}

export async function exportCommand(o: ExportCli): Promise<void> {
  if (o.format !== 'gguf') throw new ExportError(`--format ${o.format} is not supported (only gguf)`);
  const dtype = o.dtype.toLowerCase() as GgufExportDType;
  if (!GGUF_EXPORT_DTYPES.includes(dtype)) {
    throw new ExportError(`--dtype must be one of ${GGUF_EXPORT_DTYPES.join(', ')}, got '${o.dtype}'`);
  }
  const archOpt = (o.arch ?? 'auto').toLowerCase() as GgufExportArch;
  if (!GGUF_EXPORT_ARCHS.includes(archOpt))
    throw new ExportError(`--arch must be one of ${GGUF_EXPORT_ARCHS.join(', ')}, got '${o.arch}'`);
  const headDtype = (o.headDtype ?? 'q8_0').toLowerCase() as GgufHeadDType;
  if (!GGUF_HEAD_DTYPES.includes(headDtype))
    throw new ExportError(`--head-dtype must be one of ${GGUF_HEAD_DTYPES.join(', ')}, got '${o.headDtype}'`);
  if (headDtype !== 'q8_0' && dtype !== 'q4_0' && dtype !== 'q8_0')
    throw new ExportError(`--head-dtype ${headDtype} applies to q4_0 and q8_0 exports, not ${dtype}`);
  const config = configFromHF(await readConfig(o.model));
  const arch = ggufExportArch(config, archOpt);
  // Every tensor not in the file's main type is reported (embedding/head rule, F16 fallbacks).
  for (const c of ggufTensorPlan(config, dtype, headDtype).filter((t) => t.note))
    console.log(`  ${c.ggufName}: ${c.type} (${c.note})`);
  const { vocab, source } = exportVocab(o.model, config.vocabSize, o.tokenizer);
  const t0 = Date.now();
  await exportFolderToGguf(o.model, o.output, {
    dtype: dtype,
    arch,
    headDtype,
    tokenizer: vocab,
    name: o.name ?? path.basename(path.resolve(o.model)),
    openReader: openAnyWeights, // a GPTQ folder exports its dequantized weights
  });
  const mb = fs.statSync(o.output).size / 1e6;
  console.log(
    `wrote ${o.output} (${mb.toFixed(1)} MB, ${dtype}, arch ${arch}, ${config.numLayers} layers, vocab ${config.vocabSize} from ${source}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      'convert a Hugging Face MiniCPM or Llama folder to GGUF for llama.cpp (general.architecture minicpm or llama)',
    )
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .requiredOption('--output <file>', 'output .gguf file')
    .option('--format <name>', 'output format', 'gguf')
    .option(
      '--dtype <type>',
      'weight type: f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_m (norms stay f32; with q4_0 the embedding/head is Q8_0; q4_k_m as llama-quantize mixes Q4_K and Q6_K, run dequantized here)',
      'f32',
    )
    .option(
      '--arch <name>',
      'general.architecture: auto (llama for Llama folders, minicpm otherwise) | minicpm | llama (a MiniCPM only when its multipliers are 1)',
      'auto',
    )
    .option(
      '--head-dtype <type>',
      'embedding/head of q4_0 and q8_0 files: q8_0 (runs natively here) | q6_k (as llama-quantize writes; dequantized here)',
      'q8_0',
    )
    .option(
      '--tokenizer <path>',
      "SentencePiece tokenizer.model (or folder) to embed; default: the model folder's, else a synthetic vocabulary",
    )
    .option('--name <name>', 'general.name (default: the folder name)')
    .action(exportCommand);
}
