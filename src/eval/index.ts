/** Evaluation in the spirit of UltraEval (SPEC §8): tasks, prompts, likelihood and generation scoring. */
export * from './errors.js';
export * from './types.js';
export * from './prompts.js';
export * from './postprocess.js';
export * from './likelihood.js';
export * from './generation.js';
export * from './runner.js';
export * from './code-exec.js';
export * from './code-prompts.js';
