/**
 * The study driver shared by every sandbox study: prepare the data workspace, open the registry and
 * the study record, run the study's runs (each skipped when already finished), analyse, and write the
 * HTML report. Studies only plan runs and analyse results; they never train on their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { prepareWorkspace } from '../data/workspace.js';
import { reportHtml, type Section } from '../report/html.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { FixedEvalSet } from './eval-set.js';
import { SandboxError } from './micro-model.js';
import { Registry, type CurvePoint } from './registry.js';
import { executeRun, RunInterrupted, type RunContext, type RunResult, type RunSpec } from './runner.js';

export interface StudyReport {
  title: string;
  /** Headline numbers (stored in the registry, printed by the CLI). */
  summary: Record<string, unknown>;
  sections: Section[];
}

export interface StudyContext extends RunContext {
  /** Multiplies every run's training tokens (1: the micro preset, about an hour on 2 cores). */
  scale: number;
  /** Trains (or recalls) one run of this study. */
  run(name: string, spec: RunSpec): Promise<RunResult>;
  /** The recorded curve of a run of this study (held-out points have valLoss). */
  curve(name: string): CurvePoint[];
  /** Report assets (charts) go here. */
  reportDir: string;
  /** The built-in corpus (for held-out task sets). */
  corpusDir: string;
  /** The pretraining (stable) mixture and the decay mixture with high-quality and instruction data. */
  mixtures: { stable: string; decay: string };
}

export interface StudyDefinition<O extends Record<string, unknown>> {
  kind: string;
  description: string;
  defaults: O;
  execute(ctx: StudyContext, o: O): Promise<StudyReport>;
}

/** Sandbox-wide settings: where things live and the shared data. */
export const SANDBOX_DEFAULTS = {
  root: 'runs/sandbox',
  vocabSize: 4096,
  tokenizerSampleBytes: 2_000_000,
  /** A 4096-piece vocabulary keeps small models' heads cheap; rarer Chinese characters become bytes. */
  characterCoverage: 0.98,
  /** Pretraining data (stable phase) and the decay-phase mixture with high-quality/instruction data. */
  stableMixture: 'demo-stable',
  decayMixture: 'demo-decay',
  evalSeqLen: 128,
  evalBatches: 4,
  microBatch: 16,
};

export type SandboxSettings = typeof SANDBOX_DEFAULTS;

export function openRegistry(root: string): Registry {
  return new Registry(path.join(root, 'registry.sqlite'));
}

export interface RunStudyOptions {
  settings: SandboxSettings;
  name?: string;
  scale: number;
  fresh: boolean;
  log: (msg: string) => void;
  signal?: AbortSignal;
}

export async function runStudy<O extends Record<string, unknown>>(
  def: StudyDefinition<O>,
  options: O,
  o: RunStudyOptions,
): Promise<{ report: string; summary: Record<string, unknown> }> {
  if (!(o.scale > 0)) throw new SandboxError(`--scale must be a positive number, got ${o.scale}`);
  const s = o.settings;
  const name = o.name ?? (o.scale === 1 ? def.kind : `${def.kind}@${o.scale}`);
  if (!/^[\w.@-]+$/.test(name))
    throw new SandboxError(`study name "${name}" may only hold letters, digits, and . @ - _`);
  const ws = await prepareWorkspace({
    root: path.join(s.root, 'data'),
    vocabSize: s.vocabSize,
    tokenizerSampleBytes: s.tokenizerSampleBytes,
    characterCoverage: s.characterCoverage,
    mixtures: [s.stableMixture, s.decayMixture],
    log: o.log,
  });
  const registry = openRegistry(s.root);
  const dir = path.join(s.root, 'studies', name);
  try {
    if (o.fresh) {
      registry.dropStudy(name);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    registry.openStudy(name, def.kind, { ...options, scale: o.scale, settings: s });
    const evalSet = FixedEvalSet.fromShards({
      shardsDir: ws.shardsDir,
      mixture: s.stableMixture,
      seqLen: s.evalSeqLen,
      batchSize: s.microBatch,
      batches: s.evalBatches,
    });
    const runCtx: RunContext = {
      registry,
      study: name,
      dir,
      shardsDir: ws.shardsDir,
      tokenizerDir: ws.tokenizerDir,
      vocabSize: loadTokenizer(ws.tokenizerDir).tokenizer.vocabSize,
      evalSet,
      microBatch: s.microBatch,
      log: o.log,
      signal: o.signal,
    };
    const reportDir = path.join(dir, 'report');
    fs.mkdirSync(reportDir, { recursive: true });
    const ctx: StudyContext = {
      ...runCtx,
      scale: o.scale,
      reportDir,
      mixtures: { stable: s.stableMixture, decay: s.decayMixture },
      corpusDir: ws.corpusDir,
      run: async (runName, spec) => (await executeRun(runCtx, runName, spec)).result,
      curve: (runName) => {
        const row = registry.run(name, runName);
        if (!row) throw new SandboxError(`study ${name} has no run ${runName}`);
        return registry.curve(row.id);
      },
    };
    let report: StudyReport;
    try {
      report = await def.execute(ctx, options);
    } catch (e) {
      if (!(e instanceof RunInterrupted))
        registry.finishStudy(name, 'failed', null, { error: (e as Error).message });
      throw e;
    }
    const counts = registry.countRuns(name);
    const setup: Section = {
      title: 'Runs',
      text:
        `${counts.done} finished, ${counts.diverged} diverged (of ${registry.runs(name).length}); ` +
        `scale ${o.scale}; data ${s.stableMixture} (${runCtx.vocabSize}-piece tokenizer); held-out loss on ` +
        `${s.evalBatches}×${s.microBatch}×${s.evalSeqLen} fixed validation tokens. Registry: ${registry.file} (study "${name}").`,
    };
    const file = path.join(reportDir, 'index.html');
    fs.writeFileSync(file, reportHtml(report.title, [...report.sections, setup]));
    fs.writeFileSync(path.join(reportDir, 'summary.json'), JSON.stringify(report.summary, null, 1));
    registry.finishStudy(name, 'done', file, report.summary);
    return { report: file, summary: report.summary };
  } finally {
    registry.close();
  }
}

/** Rounds a token budget to whole steps (at least `min`). */
export function stepsFor(tokens: number, batchSize: number, seqLen: number, min = 10): number {
  return Math.max(min, Math.round(tokens / (batchSize * seqLen)));
}
