/** The tensor engine's public surface. */
export * from './dtype.js';
export * from './errors.js';
export * from './shape.js';
export { pool, setAllocator, Storage, type Allocator } from './storage.js';
export { scope, keep, noGrad, isGradEnabled } from './scope.js';
export { Tensor, type Node, type TensorKind } from './tensor.js';
export { Rng } from './random.js';
export { backward, zeroGrad, type GradRule, type GradTable } from './autograd.js';
export { checkpoint, type Replayable } from './checkpoint.js';
export { rowExact, isRowExact } from './row-exact.js';
export { setBackend, getBackend, type Backend, type AdamWHyper } from './backend.js';
export type * from './op-names.js';
export * from './ops-elementwise.js';
export * from './ops-shape.js';
export * from './ops-reduce.js';
export * from './ops-nn.js';
export * from './ops-vision.js';
export { reduceTo } from './grad-rules.js';
