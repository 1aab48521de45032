/** Alignment: supervised fine-tuning and direct preference optimisation (SPEC §5, §7). */
export * from './errors.js';
export * from './records.js';
export * from './chat-format.js';
export * from './examples.js';
export * from './sft.js';
export * from './logprobs.js';
export * from './dpo-loss.js';
export * from './dpo.js';
