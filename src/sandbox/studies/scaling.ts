/**
 * Study 4, `scaling`: (a) how far can a small model be trained — the envelope of decayed checkpoints
 * of one model vs compute, fitted with the exponential and the power-law forms; (b) the data–model
 * law L(N, D) = C_N·N^−α + C_D·D^−β + L0 from decays branched off stable runs of several sizes, and
 * the compute-optimal split it implies. Branching makes one size cost O(C) for all its D points.
 */
import {
  chinchillaOptimum,
  compareFits,
  dataModelForm,
  exponentialForm,
  fitCurve,
  fitSummary,
  powerLawForm,
  type FitResult,
} from '../fit/index.js';
import { nonEmbeddingParams } from '../../models/presets.js';
import { microModel, runConfig } from '../micro-model.js';
import type { RunResult } from '../runner.js';
import { stepsFor, type StudyContext, type StudyDefinition } from '../study.js';
import { chart, decayFrom, fmt, stable } from './common.js';

export const SCALING_DEFAULTS = {
  widths: [64, 96, 128, 192],
  layers: 4,
  /** Token budgets D (each a decay branched off the size's stable run) at scale 1. */
  tokens: [500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000],
  /** The smallest model is also trained on to these (its envelope, part a). */
  envelopeTokens: [250_000, 16_000_000],
  decayFraction: 0.1,
  lr: 0.01,
  batchSize: 16,
  seqLen: 128,
  seed: 0,
};

interface Point {
  width: number;
  N: number;
  D: number;
  C: number;
  loss: number;
  /** The budget is in the grid shared by every size (used for the data–model law). */
  common: boolean;
}

async function sizeRuns(
  ctx: StudyContext,
  o: typeof SCALING_DEFAULTS,
  width: number,
  budgets: number[],
): Promise<Point[]> {
  const model = microModel(width, o.layers);
  const N = nonEmbeddingParams(runConfig(model, ctx.vocabSize));
  const ends = budgets.map((t) => stepsFor(t * ctx.scale, o.batchSize, o.seqLen));
  const at = ends.map((e) => e - Math.max(1, Math.round(o.decayFraction * e)));
  const warmup = Math.max(1, Math.round(0.5 * at[0]));
  const base = {
    model,
    batchSize: o.batchSize,
    seqLen: o.seqLen,
    mixture: ctx.mixtures.stable,
    dataSeed: o.seed,
    initSeed: o.seed,
    weightDecay: 0.1,
  };
  const stableName = `w${width}-stable`;
  await ctx.run(stableName, {
    ...base,
    schedule: stable(o.lr, warmup),
    steps: Math.max(...at),
    keepSteps: [...new Set(at)],
    evalEvery: Math.max(1, Math.round(Math.max(...at) / 16)),
  });
  const out: Point[] = [];
  for (const [i, end] of ends.entries()) {
    const r: RunResult = await ctx.run(`w${width}-D${budgets[i]}`, {
      ...base,
      schedule: decayFrom(o.lr, warmup, at[i], end - at[i]),
      steps: end,
      branch: { from: stableName, step: at[i] },
      evalEvery: end,
    });
    if (r.valLoss !== null)
      out.push({
        width,
        N,
        D: r.tokens,
        C: 6 * N * r.tokens,
        loss: r.valLoss,
        common: o.tokens.includes(budgets[i]),
      });
  }
  return out;
}

export const scalingStudy: StudyDefinition<typeof SCALING_DEFAULTS> = {
  kind: 'scaling',
  description:
    'envelope of one small model vs compute (power vs exponential), and L(N, D) from branched decays',
  defaults: SCALING_DEFAULTS,
  async execute(ctx, o) {
    const points: Point[] = [];
    const envelopeBudgets = [...new Set([...o.tokens, ...o.envelopeTokens])].sort((a, b) => a - b);
    for (const [i, width] of o.widths.entries())
      points.push(...(await sizeRuns(ctx, o, width, i === 0 ? envelopeBudgets : o.tokens)));

    // (a) The envelope of the smallest model.
    const env = points.filter((p) => p.width === o.widths[0]);
    const fitOpts = { seed: o.seed };
    const tryFit = <X>(f: () => FitResult<X>): FitResult<X> | null => {
      try {
        return f();
      } catch (e) {
        ctx.log(`   fit failed: ${(e as Error).message}`);
        return null;
      }
    };
    const pow = tryFit(() =>
      fitCurve(
        powerLawForm,
        env.map((p) => p.C),
        env.map((p) => p.loss),
        fitOpts,
      ),
    );
    const exp = tryFit(() =>
      fitCurve(
        exponentialForm,
        env.map((p) => p.C),
        env.map((p) => p.loss),
        fitOpts,
      ),
    );
    const cmp = pow && exp ? compareFits(pow, exp) : null;

    // (b) The data–model law over every size and budget in the common grid.
    const grid = points.filter((p) => p.common);
    const law = tryFit(() =>
      fitCurve(
        dataModelForm,
        grid.map((p) => ({ N: p.N, D: p.D })),
        grid.map((p) => p.loss),
        fitOpts,
      ),
    );
    const computes = [1e13, 1e15, 1e17, 6.6e18, 1e21];
    const optima = law
      ? computes.map((C) => {
          try {
            return chinchillaOptimum(law, C);
          } catch {
            return null;
          }
        })
      : [];

    const svgs = [];
    const envRows = env.map((p) => ({ compute: p.C, loss: p.loss, series: 'decayed checkpoints' }));
    const lo = Math.min(...env.map((p) => p.C));
    const hi = Math.max(...env.map((p) => p.C));
    const xs = Array.from({ length: 40 }, (_, i) => lo * (hi / lo) ** (i / 39));
    for (const f of [pow, exp])
      if (f) envRows.push(...xs.map((C) => ({ compute: C, loss: f.predict(C), series: `${f.form} fit` })));
    svgs.push(
      await chart(ctx.reportDir, 'envelope', {
        title: `width ${o.widths[0]}: loss of decayed checkpoints vs compute (6·N·D), with both fits`,
        rows: envRows,
        x: 'compute',
        y: 'loss',
        series: 'series',
        logX: true,
      }),
    );
    svgs.push(
      await chart(ctx.reportDir, 'loss-vs-tokens', {
        title: 'Decayed loss vs tokens, by model size',
        rows: points.map((p) => ({ tokens: p.D, loss: p.loss, size: `width ${p.width} (N=${p.N})` })),
        x: 'tokens',
        y: 'loss',
        series: 'size',
        logX: true,
      }),
    );
    const paramRows = (f: FitResult<unknown> | null): (string | number)[][] =>
      f
        ? f.curve.params.map((k) => [
            f.form,
            k,
            fmt(f.params[k]),
            `[${fmt(f.ci[k][0], 3)}, ${fmt(f.ci[k][1], 3)}]`,
          ])
        : [];
    const summary = {
      envelope: {
        power: pow && fitSummary(pow),
        exponential: exp && fitSummary(exp),
        better: cmp?.better ?? null,
      },
      dataModel: law && fitSummary(law),
      optima: optima
        .filter((x) => x !== null)
        .map((x) => ({ C: x.C, N: x.nOpt, D: x.dOpt, tokensPerParam: x.tokensPerParam, loss: x.loss })),
      points,
    };
    return {
      title: 'Sandbox study: scaling laws with WSD (envelope and data–model law)',
      summary,
      sections: [
        {
          title: 'Finding (a): how far can a small model be trained',
          text:
            (cmp ? `${cmp.reason}. ` : 'Envelope fits unavailable (too few points). ') +
            (pow
              ? `Power-law limit L0 = ${fmt(pow.params.L0)} [${fmt(pow.ci.L0[0], 3)}, ${fmt(pow.ci.L0[1], 3)}]. `
              : '') +
            "MiniCPM: the power law fits better; the 0.036B model's limit is C4 loss 3.27.",
        },
        {
          title: 'Finding (b): data–model law',
          text: law
            ? `L(N, D) = ${fmt(law.params.C_N)}·N^−${fmt(law.params.alpha, 3)} + ${fmt(law.params.C_D)}·D^−${fmt(law.params.beta, 3)} + ${fmt(law.params.L0)} (${grid.length} points, RMSE ${fmt(law.rmse, 3)}). ` +
              (optima[0] ? `K² = ${fmt(optima[0].K2, 3)}, η = ${fmt(optima[0].eta, 3)}. ` : '') +
              'MiniCPM: α = 0.29, β = 0.23, K² = 0.01, η = −0.10, ≈192 tokens per parameter (Chinchilla: 20). ' +
              "At laptop scale the token counts are tiny and the exponents carry wide intervals: read them as the method working, not as MiniCPM's numbers."
            : 'The data–model law could not be fitted (too few finished points).',
        },
        { title: 'Curves', svgs },
        {
          title: 'Fitted parameters (95% bootstrap intervals)',
          table: {
            head: ['form', 'parameter', 'value', 'interval'],
            rows: [...paramRows(pow), ...paramRows(exp), ...paramRows(law)],
          },
        },
        {
          title: 'Compute-optimal split implied by the data–model law (C = 6ND)',
          table: {
            head: ['compute C', 'N_opt', 'D_opt', 'tokens per parameter', 'loss'],
            rows: optima
              .filter((x) => x !== null)
              .map((x) => [x.C, x.nOpt, x.dOpt, fmt(x.tokensPerParam, 3), fmt(x.loss)]),
          },
        },
      ],
    };
  },
};
