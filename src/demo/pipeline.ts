/**
 * `minicpm demo` (`npm start`): MiniCPM's whole loop at micro scale on the built-in corpus — tokenizer →
 * stable phase → decay with high-quality and instruction data → SFT → DPO → evaluation after each of
 * them → GPTQ int4 → a chat through the OpenAI-compatible server — and one HTML report. Every stage is
 * recorded in OUT/stages.json when it finishes; a rerun skips finished stages and resumes the interrupted
 * one from its checkpoints (training) or per-item records (benchmarks).
 *
 * With --decay-from STEP (the "anytime model") the decay branches off an earlier stable checkpoint and the
 * rest of the loop runs on that branch, in folders suffixed `-from-STEP`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadTokenizer } from '../tokenizer/load.js';
import { readMetrics, type StepMetrics } from '../train/metrics.js';
import { dpoStage, sftStage } from './align-stages.js';
import { chatItems, chatThroughServer, type ChatSession } from './chat.js';
import { benchmarkPlan, evaluateModel, type EvalPlan, type EvalScores } from './evaluate.js';
import { instructSplits } from './instruct-data.js';
import { checkDemoOptions, DemoError, flagOf, type DemoOptions } from './options.js';
import { prepareData, pretrain } from './pretrain.js';
import { quantizeStage, type QuantizeSummary } from './quantize.js';
import { writeDemoReport } from './report.js';
import { StageLedger, type StageRunner } from './stages.js';

export interface DemoHooks {
  say?: (msg: string) => void;
  /** Training progress, one call per optimizer step of any phase. */
  onStep?: (m: StepMetrics, total: number) => void;
  /** Called after each stage finishes (tests interrupt the loop here). */
  afterStage?: (name: string) => void;
}

export interface DemoResult {
  report: string;
  evals: { label: string; scores: EvalScores }[];
  chat: ChatSession;
  ledger: StageLedger;
}

/**
 * Finished stages are recalled by name, so a rerun must ask for what they were made with: the settings are
 * saved with the first run and a rerun with others is refused (--decay-from may change: it opens a branch).
 */
function checkSameSettings(o: DemoOptions): void {
  const file = path.join(o.out, 'demo-options.json');
  const mine = { ...o, out: undefined, decayFrom: undefined };
  if (fs.existsSync(file)) {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const changed = Object.keys(mine).filter(
      (k) =>
        mine[k as keyof DemoOptions] !== undefined && k in saved && saved[k] !== mine[k as keyof DemoOptions],
    );
    if (changed.length)
      throw new DemoError(
        `${o.out} holds a demo made with other settings (${changed
          .map(
            (k) =>
              `--${flagOf(k)} ${JSON.stringify(saved[k])}, now ${JSON.stringify(mine[k as keyof DemoOptions])}`,
          )
          .join('; ')}): rerun with those, or pass another --out`,
      );
    return;
  }
  fs.writeFileSync(file, JSON.stringify(mine, null, 1));
}

export async function runDemo(o: DemoOptions, hooks: DemoHooks = {}): Promise<DemoResult> {
  checkDemoOptions(o);
  const say = hooks.say ?? ((m: string) => void process.stderr.write(`${m}\n`));
  const t0 = performance.now();
  fs.mkdirSync(o.out, { recursive: true });
  checkSameSettings(o);
  const ledger = new StageLedger(o.out, say);
  const stage: StageRunner = async (name, title, fn) => {
    const r = await ledger.run(name, title, fn);
    hooks.afterStage?.(name);
    return r;
  };
  // the stages after the decay belong to its branch
  const tag = o.decayFrom > 0 ? `-from-${o.decayFrom}` : '';
  const at = (name: string) => path.join(o.out, `${name}${tag}`);

  const ws = await prepareData(o, stage, say);
  const pre = await pretrain(o, ws, stage, hooks.onStep, say);
  const tok = loadTokenizer(ws.tokenizerDir).tokenizer;

  const data = await instructSplits(ws.corpusDir, {
    sftItems: o.sftSteps * o.sftBatchSize,
    dpoItems: o.dpoSteps * o.dpoBatchSize,
    evalItems: o.evalItems,
    heldOutItems: o.alignEvalItems,
    seed: o.seed,
  });
  const bench = benchmarkPlan(o.benchmarks, o.benchmarksDir, say);
  const plan: EvalPlan = {
    items: data.evalItems,
    generate: Math.min(o.evalGenerate, data.evalItems.length),
    benchmarks: bench.tasks,
    benchmarksDir: bench.dir,
    perTask: o.benchmarkItems,
    seed: o.seed,
  };
  const evals: { label: string; scores: EvalScores }[] = [];
  const evaluate = async (label: string, key: string, dir: string) => {
    const scores = await stage(`eval-${key}${tag}`, `evaluation: ${label}`, () =>
      evaluateModel(dir, ws.tokenizerDir, plan, path.join(at('eval'), key), say),
    );
    evals.push({ label, scores });
  };
  const align = {
    tokenizerDir: ws.tokenizerDir,
    seed: o.seed,
    evalEvery: 0,
    log: say,
    onStep: hooks.onStep,
  };

  await evaluate('after decay (base)', 'decay', pre.decayed);
  const sft = await stage(
    `sft${tag}`,
    `SFT: ${o.sftSteps} steps on synthetic instruction conversations`,
    () =>
      sftStage(
        {
          ...align,
          from: pre.decayed,
          runDir: at('sft'),
          steps: o.sftSteps,
          batchSize: o.sftBatchSize,
          lr: o.sftLr,
          seqLen: o.sftSeqLen,
          evalEvery: Math.max(1, Math.round(o.sftSteps / 6)),
        },
        tok,
        data.sft,
        data.heldOutConversations,
      ),
  );
  await evaluate('after SFT', 'sft', sft);
  const dpo = await stage(`dpo${tag}`, `DPO: ${o.dpoSteps} steps on synthetic preference pairs`, () =>
    dpoStage(
      {
        ...align,
        from: sft,
        runDir: at('dpo'),
        steps: o.dpoSteps,
        batchSize: o.dpoBatchSize,
        lr: o.dpoLr,
        seqLen: o.sftSeqLen,
        beta: o.dpoBeta,
        evalEvery: Math.max(1, Math.round(o.dpoSteps / 6)),
      },
      tok,
      data.dpo,
      data.heldOutPairs,
    ),
  );
  await evaluate('after DPO', 'dpo', dpo);
  const int4 = at('int4');
  const quant: QuantizeSummary = await stage(`gptq${tag}`, 'GPTQ int4 of the DPO model', () =>
    quantizeStage({
      from: dpo,
      out: int4,
      shardsDir: ws.shardsDir,
      mixture: ws.decayMixture,
      samples: o.gptqSamples,
      seqLen: o.seqLen,
      groupSize: o.gptqGroupSize,
      seed: o.seed,
      log: say,
    }),
  );
  await evaluate('DPO, int4 (GPTQ)', 'int4', int4);
  const chat = await stage(
    `chat${tag}`,
    'chat with the int4 model through the OpenAI-compatible server',
    () => chatThroughServer(int4, chatItems(data.evalItems), o.chatTokens, say),
  );

  const report = await stage(`report${tag}`, 'report', async () => {
    const file = await writeDemoReport(at('report'), {
      title: `MiniCPM demo${tag ? ` (decay from stable step ${o.decayFrom})` : ''}: the whole loop at micro scale`,
      pretrain: [
        ...readMetrics(path.join(pre.stableRun, 'metrics.jsonl')),
        ...readMetrics(path.join(pre.decayRun, 'metrics.jsonl')),
      ],
      sft: readMetrics(path.join(at('sft'), 'metrics.jsonl')),
      dpo: readMetrics(path.join(at('dpo'), 'metrics.jsonl')),
      drop: pre.drop,
      evals,
      quant,
      chat,
      timings: ledger.timings,
      totalSeconds: (performance.now() - t0) / 1000,
    });
    return file;
  });
  say('\nstage timings (seconds):');
  for (const t of ledger.timings)
    say(
      `   ${t.name.padEnd(22)} ${t.seconds.toFixed(1).padStart(7)} wall ${(t.cpuSeconds ?? NaN).toFixed(1).padStart(7)} CPU` +
        (t.recalled ? '  (an earlier run)' : ''),
    );
  say(`\ndemo finished in ${((performance.now() - t0) / 60000).toFixed(1)} min; report: ${report}`);
  return { report, evals, chat, ledger };
}
