/**
 * The demo's report: one self-contained HTML page (charts inline as SVG) with every phase's curves —
 * pretraining loss on the fixed validation set and the LR schedule, SFT and DPO losses, DPO's reward
 * margins — the decay's paired drop, the evaluation table after each stage on the same items, the
 * chats answered by the served int4 model, and the stage timings.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lineChartSvg, type Row } from '../report/charts.js';
import { reportHtml, type Section } from '../report/html.js';
import type { StepMetrics } from '../train/metrics.js';
import type { ChatSession } from './chat.js';
import type { EvalScores } from './evaluate.js';
import type { DecayDrop } from './pretrain.js';
import type { QuantizeSummary } from './quantize.js';
import type { StageTiming } from './stages.js';

export interface DemoReport {
  title: string;
  pretrain: StepMetrics[];
  sft: StepMetrics[];
  dpo: StepMetrics[];
  drop: DecayDrop;
  /** Evaluation columns in stage order, e.g. after decay / after SFT / after DPO / int4. */
  evals: { label: string; scores: EvalScores }[];
  quant: QuantizeSummary;
  chat: ChatSession;
  timings: StageTiming[];
  totalSeconds: number;
}

const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : `${(100 * x).toFixed(1)}%`;

/** Train loss per step and validation loss at each evaluation, one series per phase. */
function lossRows(metrics: readonly StepMetrics[], phaseOf: (m: StepMetrics) => string): Row[] {
  const rows: Row[] = metrics.map((m) => ({ step: m.step, loss: m.loss, curve: `train, ${phaseOf(m)}` }));
  for (const m of metrics)
    if (m.val_loss !== undefined) rows.push({ step: m.step, loss: m.val_loss, curve: 'validation' });
  return rows;
}

async function curves(r: DemoReport): Promise<string[]> {
  const phase = (m: StepMetrics) => m.phase ?? 'stable';
  const svgs = [
    await lineChartSvg({
      title: 'Pretraining: stable phase, then the decay branch',
      rows: lossRows(r.pretrain, phase),
      x: 'step',
      y: 'loss',
      series: 'curve',
      yTitle: 'cross-entropy (nats / token)',
    }),
    await lineChartSvg({
      title: 'Validation loss on the fixed set, by phase (the decay drop), with ±1 standard error',
      rows: r.pretrain.flatMap((m) =>
        m.val_loss === undefined
          ? []
          : [
              { step: m.step, loss: m.val_loss, curve: phase(m) },
              { step: m.step, loss: m.val_loss - (m.val_loss_se ?? 0), curve: `${phase(m)} − SE` },
              { step: m.step, loss: m.val_loss + (m.val_loss_se ?? 0), curve: `${phase(m)} + SE` },
            ],
      ),
      x: 'step',
      y: 'loss',
      series: 'curve',
      yTitle: 'cross-entropy (nats / token)',
    }),
    await lineChartSvg({
      title: 'Pretraining learning rate (WSD)',
      rows: r.pretrain.map((m) => ({ step: m.step, lr: m.lr, phase: phase(m) })),
      x: 'step',
      y: 'lr',
      series: 'phase',
    }),
    await lineChartSvg({
      title: 'SFT: loss on answer tokens',
      rows: lossRows(r.sft, () => 'sft'),
      x: 'step',
      y: 'loss',
      series: 'curve',
      yTitle: 'cross-entropy (nats / answer token)',
    }),
    await lineChartSvg({
      title: 'DPO: loss',
      rows: lossRows(r.dpo, () => 'dpo'),
      x: 'step',
      y: 'loss',
      series: 'curve',
      yTitle: 'DPO loss (sigmoid)',
    }),
  ];
  const margins: Row[] = [];
  for (const m of r.dpo) {
    if (m.stats?.reward_margin !== undefined)
      margins.push({ step: m.step, value: m.stats.reward_margin, curve: 'margin, train' });
    if (m.val_stats?.reward_margin !== undefined)
      margins.push({ step: m.step, value: m.val_stats.reward_margin, curve: 'margin, val' });
    if (m.val_stats?.reward_accuracy !== undefined)
      margins.push({
        step: m.step,
        value: m.val_stats.reward_accuracy,
        curve: 'accuracy, val',
      });
  }
  if (margins.length)
    svgs.push(
      await lineChartSvg({
        title: 'DPO: reward margin β·Δ(log π − log π_ref), chosen − rejected; val pairs ranked right',
        rows: margins,
        x: 'step',
        y: 'value',
        series: 'curve',
      }),
    );
  return svgs;
}

function evalTable(r: DemoReport): Section['table'] {
  const cols = r.evals;
  const rows: (string | number)[][] = [];
  const kinds = Object.keys(cols[0]?.scores.instruct ?? {}).filter((k) => k !== 'all');
  const inst = (k: string, f: (s: EvalScores['instruct'][string]) => string, label: string) =>
    rows.push([label, ...cols.map((c) => (c.scores.instruct[k] ? f(c.scores.instruct[k]) : '—'))]);
  inst(
    'all',
    (s) => pct(s.choiceAccuracy),
    `held-out instructions: choice accuracy (4 options, n ${cols[0]?.scores.instruct.all?.n ?? 0})`,
  );
  for (const k of kinds) inst(k, (s) => pct(s.choiceAccuracy), `  ${k} (n ${cols[0].scores.instruct[k].n})`);
  inst('all', (s) => s.answerLoss.toFixed(3), 'held-out instructions: answer loss (nats / token)');
  inst(
    'all',
    (s) => pct(s.exactMatch),
    `held-out instructions: greedy exact match (n ${cols[0]?.scores.instruct.all?.generated ?? 0})`,
  );
  for (const [i, b] of (cols[0]?.scores.benchmarks ?? []).entries())
    rows.push([
      `${b.task} (UltraEval, 0-shot likelihood, n ${b.items})`,
      ...cols.map((c) => {
        const s = c.scores.benchmarks[i];
        return s ? `${pct(s.accuracy)} ±${(100 * s.se).toFixed(1)}` : '—';
      }),
    ]);
  return { head: ['metric', ...cols.map((c) => c.label)], rows };
}

export async function writeDemoReport(dir: string, r: DemoReport): Promise<string> {
  const d = r.drop;
  const sections: Section[] = [
    {
      title: 'Stages',
      text: `The whole loop in ${(r.totalSeconds / 60).toFixed(1)} min of this run (stages marked "earlier run" were finished before a restart; their time is that run's).`,
      table: {
        head: ['stage', 'wall seconds', 'CPU seconds', ''],
        rows: r.timings.map((t) => [
          t.name,
          t.seconds.toFixed(1),
          t.cpuSeconds === undefined ? '—' : t.cpuSeconds.toFixed(1),
          t.recalled ? 'earlier run' : '',
        ]),
      },
    },
    {
      title: 'Pretraining and the decay drop',
      text:
        `On the fixed validation set (${d.batches} batches, the same tokens at every evaluation) the decay took the loss from ` +
        `${d.before.toFixed(3)} ±${d.beforeSe.toFixed(3)} at stable step ${d.branchStep} to ${d.after.toFixed(3)} ±${d.afterSe.toFixed(3)} at step ${d.endStep}: ` +
        `a paired change of ${d.drop.toFixed(3)} ±${d.dropSe.toFixed(3)} nats per token (standard errors over batches; the paired one compares the same batches).`,
      svgs: await curves(r),
    },
    {
      title: 'Evaluation after each stage (the same items every time)',
      text:
        "Held-out instruction tasks: the instruction set's validation split (definitions, next lines of poems, authors, arithmetic), " +
        'each with its right answer and three plausible wrong ones; choice = the right answer has the highest mean log-likelihood. ' +
        'Benchmarks: a fixed-seed sample of the real files, scored as UltraEval scores them in likelihood mode (chance: 25%). ' +
        `int4: GPTQ of the DPO model, ${r.quant.layers} linear layers, calibration ${r.quant.calibrationTokens} tokens.`,
      table: evalTable(r),
    },
    {
      title: 'Chat through the OpenAI-compatible server (int4 model, greedy)',
      text: `POST ${r.chat.url}/v1/chat/completions, model "${r.chat.model}"; the server was started on a free loopback port and stopped after these turns.`,
      table: {
        head: ['kind', 'prompt', 'answer', 'expected', 'finish'],
        rows: r.chat.turns.map((t) => [t.kind, t.prompt, t.answer, t.expected, t.finishReason]),
      },
    },
  ];
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'index.html');
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, reportHtml(r.title, sections));
  fs.renameSync(tmp, file);
  return file;
}
