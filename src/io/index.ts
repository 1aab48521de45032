// Checkpoint formats: safetensors, PyTorch zip checkpoints, GGUF and Hugging Face folders, on raw
// tensor records (independent of the tensor engine).

export * from './dtypes.js';
export * from './errors.js';
export * from './tensor-source.js';
export * from './safetensors.js';
export * from './sharded.js';
export * from './pytorch-bin.js';
export * from './gguf.js';
export * from './gguf-minicpm.js';
export * from './gguf-llama.js';
export * from './hf-folder.js';
export { atomicWriteFile, atomicWriteText } from './file-io.js';
export * from './llama2c.js';
