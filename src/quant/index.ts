/** Int4 quantization (SPEC §9): the min–max group quantizer, RTN, GPTQ and AutoGPTQ's format. */
export * from './errors.js';
export * from './matrix.js';
export * from './quantizer.js';
export * from './quantized.js';
export { rtnQuantize, type RtnOptions } from './rtn.js';
export { HessianAccumulator } from './hessian.js';
export { choleskyInPlace, invertLower, upperCholeskyOfInverse } from './linalg.js';
export { factorHessian, gptqQuantize, type GptqFactor, type GptqOptions, type GptqResult } from './gptq.js';
export type { PreparedHessian } from './gptq-setup.js';
export { gptqQuantizeReference } from './gptq-ref.js';
export { outputError } from './layer-error.js';
export * from './autogptq.js';
export * from './quantize-config.js';
export {
  quantizeModel,
  type QuantizeModelOptions,
  type QuantizedLayerInfo,
  type QuantizedModel,
} from './quantize-model.js';
export {
  dequantizingReader,
  loadAnyModel,
  openAnyWeights,
  readQuantizeConfig,
  saveQuantizedModel,
} from './gptq-folder.js';
export * from './qweight.js';
export { repackGptq, repackQ4_0, repackQ8_0, type GptqTensors } from './qweight-repack.js';
export { dequantizeRow, quantizeToQWeight } from './qweight-quantize.js';
export { qlinears, QuantizedLinears } from './qlinear.js';
export { loadQuantizedModel, readGptqLayer, readQuantizeConfigAny } from './load-quantized.js';
export { applyHeadDtype, useInt8Head } from './int8-head.js';
