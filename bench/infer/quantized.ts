/**
 * The quantized models of the infer benchmark, all from the same f32 weights as its float rows:
 *  - W4: an AutoGPTQ folder (4-bit, group 32, RTN with storable zeros, embedding in BF16, sharded as our
 *    writer shards) loaded by loadAnyModel onto the int4 kernels; the peak-RSS row loads this folder
 *    (decode-step --w2 writes the same folder at 2 bits);
 *  - W8: every projection quantized symmetric per 32 (Q8_0's arithmetic) straight into W8 weights.
 * Both take --head-dtype int8 (useInt8Head), as llama.cpp's Q4_0/Q8_0 exports keep the tied table in Q8_0.
 * Each returns the bytes one decoded token reads: the layers' projections and the head, apart.
 */
import { castFloat } from '../../src/io/dtypes.js';
import { saveFolder, type TensorSource } from '../../src/io/index.js';
import { configToHF } from '../../src/models/config.js';
import { MiniCPM, PROJ } from '../../src/models/minicpm.js';
import { tensorToRecord } from '../../src/models/weights.js';
import { useInt8Head } from '../../src/quant/int8-head.js';
import { QuantizedLinears } from '../../src/quant/qlinear.js';
import { type QWeight, streamedBytes } from '../../src/quant/qweight.js';
import { quantizeToQWeight } from '../../src/quant/qweight-quantize.js';
import type { DecodeBytes } from './shape.js';
import {
  autogptqRecords,
  loadAnyModel,
  matrixFromTensor,
  packAutoGptq,
  quantizeConfigFor,
  rtnQuantize,
} from '../../src/quant/index.js';

const isProjection = (name: string): boolean => PROJ.some((p) => name.endsWith(`${p}.weight`));

/** Writes `model` as a 4-bit (or `bits`) g32 AutoGPTQ folder (RTN), non-projection tensors in BF16. */
export async function writeGptqFolder(model: MiniCPM, dir: string, bits: 2 | 4 = 4): Promise<void> {
  const tensors: TensorSource[] = [];
  for (const [name, t] of model.params) {
    if (isProjection(name)) {
      const q = rtnQuantize(matrixFromTensor(t), { bits, groupSize: 32, storableZeros: true });
      tensors.push(...autogptqRecords(name.slice(0, -'.weight'.length), packAutoGptq(q)));
    } else {
      tensors.push({
        name,
        dtype: 'BF16',
        shape: [...t.shape],
        load: () => castFloat(tensorToRecord(name, t), 'BF16').data,
      });
    }
  }
  const qc = quantizeConfigFor({ bits, groupSize: 32, actOrder: false, sym: false });
  await saveFolder(dir, {
    config: { ...configToHF(model.config), torch_dtype: 'bfloat16', quantization_config: qc },
    tensors,
    extraJson: { 'quantize_config.json': qc },
  });
}

/** Bytes a decoded token streams from a runner's quantized weights: the head ('lm_head') and the rest. */
function runnerBytes(runner: QuantizedLinears): DecodeBytes {
  const head = runner.weights.get('lm_head');
  const headBytes = head ? streamedBytes(head) : 0;
  return { layers: runner.streamedBytes() - headBytes, head: headBytes };
}

/** A GPTQ folder on the quantized kernels with an int8 head; returns the model and its bytes per decoded token. */
export async function loadGptq(dir: string): Promise<{ model: MiniCPM; bytes: DecodeBytes }> {
  const model = await loadAnyModel(dir, { weightDtype: 'bf16' });
  useInt8Head(model);
  return { model, bytes: runnerBytes(model.linearRunner as QuantizedLinears) };
}

/** Every projection of `model` (f32) as W8 rows, with an int8 head: a model sharing only the norms. */
export function w8Copy(model: MiniCPM): { model: MiniCPM; bytes: DecodeBytes } {
  const params = new Map([...model.params].filter(([, t]) => t.rank === 1));
  params.set('model.embed_tokens.weight', model.p('model.embed_tokens.weight'));
  const weights = new Map<string, QWeight>();
  for (const [name, t] of model.params) {
    if (!isProjection(name)) continue;
    const [out, K] = t.shape;
    weights.set(name.slice(0, -'.weight'.length), quantizeToQWeight(t.data as Float32Array, out, K, 8));
  }
  const m = new MiniCPM(model.config, params);
  m.linearRunner = new QuantizedLinears(weights, (mod) => m.p(`${mod}.weight`));
  // the head is quantized from the shared f32 table; drop it from this copy only after quantizing
  const head = quantizeToQWeight(
    model.p('model.embed_tokens.weight').data as Float32Array,
    model.config.vocabSize,
    model.config.hiddenSize,
    8,
  );
  const runner = m.linearRunner as QuantizedLinears;
  runner.weights.set('lm_head', head);
  runner.embedding = head;
  params.delete('model.embed_tokens.weight');
  // the runner's map is `weights`, the head included (counting it apart as well read it twice)
  return { model: m, bytes: runnerBytes(runner) };
}
