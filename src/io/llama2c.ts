// Karpathy's llama2.c checkpoints (`model.bin`): seven int32 header fields (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size — negative when the classifier is stored separately — and seq_len),
// then f32 weights in run.c's order, each matrix [out, in] row-major as PyTorch holds it. Read here as
// Hugging Face Llama tensors: llama2.c rotates adjacent pairs of each head (Meta's RoPE layout) while
// Hugging Face rotates halves, so q and k rows are permuted per head as transformers' converter does.

import * as fs from 'node:fs';
import { CheckpointFormatError } from './errors.js';
import { fromTypedArray, type TensorRecord } from './dtypes.js';
import { readAtSync } from './file-io.js';
import { unpermuteQK } from './gguf-minicpm.js';

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (vocab_size was positive in the header). */
  sharedClassifier: boolean;
}

export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  /** A Hugging Face `config.json` for the same model (model_type llama). */
  config: Record<string, unknown>;
  /** Tensors under Hugging Face Llama names, rows of q/k in rotate-half order. */
  tensors: TensorRecord[];
}

const HEADER_BYTES = 28;

export function readLlama2c(file: string): Llama2cCheckpoint {
  const size = fs.statSync(file).size;
  if (size < HEADER_BYTES)
    throw new CheckpointFormatError(file, `${size} bytes is too short for a llama2.c header`);
  const fd = fs.openSync(file, 'r');
  try {
    const head = new Int32Array(readAtSync(fd, 0, HEADER_BYTES, file).slice().buffer);
    const [dim, hiddenDim, numLayers, numHeads, numKvHeads, rawVocab, seqLen] = head;
    const header: Llama2cHeader = {
      dim,
      hiddenDim,
      numLayers,
      numHeads,
      numKvHeads,
      vocabSize: Math.abs(rawVocab),
      seqLen,
      sharedClassifier: rawVocab > 0,
    };
    const positive = [dim, hiddenDim, numLayers, numHeads, numKvHeads, header.vocabSize, seqLen];
    if (
      positive.some((v) => !(v > 0 && v < 1 << 24)) ||
      dim % numHeads ||
      numHeads % numKvHeads ||
      (dim / numHeads) % 2
    )
      throw new CheckpointFormatError(file, `not a llama2.c header: ${Array.from(head).join(', ')}`);
    const hs = dim / numHeads;
    const kvd = numKvHeads * hs;
    const L = numLayers;
    const floats =
      header.vocabSize * dim +
      L * dim * 2 +
      L * dim * dim * 2 +
      L * dim * kvd * 2 +
      L * dim * hiddenDim * 3 +
      dim +
      seqLen * hs + // the old freq_cis_real/imag tables, skipped
      (header.sharedClassifier ? 0 : header.vocabSize * dim);
    if (size !== HEADER_BYTES + floats * 4)
      throw new CheckpointFormatError(
        file,
        `a llama2.c model with this header has ${HEADER_BYTES + floats * 4} bytes, the file has ${size}`,
      );
    const data = new Float32Array(readAtSync(fd, HEADER_BYTES, floats * 4, file).buffer, 0, floats);
    let at = 0;
    const take = (n: number): Float32Array => data.subarray(at, (at += n));
    const tensors: TensorRecord[] = [];
    const put = (name: string, shape: number[], v: Float32Array): void => {
      tensors.push(fromTypedArray(name, shape, Float32Array.from(v)));
    };
    const perLayer = (rows: number, cols: number): Float32Array[] => {
      const all = take(L * rows * cols);
      return Array.from({ length: L }, (_, l) => all.subarray(l * rows * cols, (l + 1) * rows * cols));
    };
    const embed = take(header.vocabSize * dim);
    const attnNorm = perLayer(1, dim);
    const wq = perLayer(dim, dim);
    const wk = perLayer(kvd, dim);
    const wv = perLayer(kvd, dim);
    const wo = perLayer(dim, dim);
    const ffnNorm = perLayer(1, dim);
    const w1 = perLayer(hiddenDim, dim);
    const w2 = perLayer(dim, hiddenDim);
    const w3 = perLayer(hiddenDim, dim);
    const finalNorm = take(dim);
    take(seqLen * hs);
    put('model.embed_tokens.weight', [header.vocabSize, dim], embed);
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`;
      put(`${p}.input_layernorm.weight`, [dim], attnNorm[l]);
      // adjacent-pair rows, the layout llama.cpp's GGUF uses too: reorder as the GGUF reader does
      tensors.push(unpermuteQK(fromTypedArray(`${p}.self_attn.q_proj.weight`, [dim, dim], wq[l]), numHeads));
      tensors.push(
        unpermuteQK(fromTypedArray(`${p}.self_attn.k_proj.weight`, [kvd, dim], wk[l]), numKvHeads),
      );
      put(`${p}.self_attn.v_proj.weight`, [kvd, dim], wv[l]);
      put(`${p}.self_attn.o_proj.weight`, [dim, dim], wo[l]);
      put(`${p}.post_attention_layernorm.weight`, [dim], ffnNorm[l]);
      put(`${p}.mlp.gate_proj.weight`, [hiddenDim, dim], w1[l]);
      put(`${p}.mlp.up_proj.weight`, [hiddenDim, dim], w3[l]);
      put(`${p}.mlp.down_proj.weight`, [dim, hiddenDim], w2[l]);
    }
    put('model.norm.weight', [dim], finalNorm);
    if (!header.sharedClassifier)
      put('lm_head.weight', [header.vocabSize, dim], take(header.vocabSize * dim));
    const config = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      vocab_size: header.vocabSize,
      hidden_size: dim,
      intermediate_size: hiddenDim,
      num_hidden_layers: L,
      num_attention_heads: numHeads,
      num_key_value_heads: numKvHeads,
      max_position_embeddings: seqLen,
      rms_norm_eps: 1e-5, // run.c's
      rope_theta: 10000,
      tie_word_embeddings: header.sharedClassifier,
      hidden_act: 'silu',
      bos_token_id: 1, // llama2.c's tokenizers: 1 = BOS, 2 = EOS
      eos_token_id: 2,
      torch_dtype: 'float32',
    };
    return { header, config, tensors };
  } finally {
    fs.closeSync(fd);
  }
}
