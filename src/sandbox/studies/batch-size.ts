/**
 * Study 2, `batch-size`: for several model sizes and batch sizes, the tokens each run needs to reach
 * each loss level; the batch size that needs the fewest is the optimum at that loss. MiniCPM fitted
 * the optima as a line in log–log space: bs_opt = 1.21e9 / L^6.24 (tokens, L = C4 loss).
 */
import { logLogLine, type LogLogFit } from '../fit/index.js';
import { microModel } from '../micro-model.js';
import type { CurvePoint } from '../registry.js';
import { stepsFor, type StudyDefinition } from '../study.js';
import { chart, fmt, logParabolaMin, stable } from './common.js';

export const BATCH_SIZE_DEFAULTS = {
  widths: [64, 128, 256],
  layers: 4,
  /** Sequences per step. */
  batchSizes: [4, 8, 16, 32, 64, 128],
  seqLen: 128,
  /** Training tokens per run at scale 1 (every batch size sees the same number of tokens). */
  tokens: 1_500_000,
  lr: 0.01,
  /** Loss levels per model size, spread between what most runs reach and the early losses. */
  levels: 8,
  seed: 0,
};

/**
 * Tokens at which a curve first reaches `level`, interpolated linearly in log(tokens) between the
 * evaluations around the crossing (running minimum, so one noisy uptick does not count). Infinity
 * when never reached.
 */
export function tokensToReach(curve: { tokens: number; loss: number }[], level: number): number {
  let prev: { tokens: number; loss: number } | null = null;
  let best = Infinity;
  for (const p of curve) {
    const loss = Math.min(best, p.loss);
    if (loss <= level) {
      if (!prev || prev.loss <= level) return p.tokens;
      const t = (prev.loss - level) / (prev.loss - loss);
      return Math.exp(Math.log(prev.tokens) + t * (Math.log(p.tokens) - Math.log(prev.tokens)));
    }
    best = loss;
    prev = { tokens: p.tokens, loss };
  }
  return Infinity;
}

const heldOut = (c: CurvePoint[]): { tokens: number; loss: number }[] =>
  c.filter((p) => p.valLoss !== null).map((p) => ({ tokens: p.tokens, loss: p.valLoss! }));

export const batchSizeStudy: StudyDefinition<typeof BATCH_SIZE_DEFAULTS> = {
  kind: 'batch-size',
  description: 'tokens to reach each loss at ≥6 batch sizes for ≥3 model sizes; fit bs_opt = a / L^b',
  defaults: BATCH_SIZE_DEFAULTS,
  async execute(ctx, o) {
    const curves = new Map<string, { tokens: number; loss: number }[]>();
    for (const width of o.widths)
      for (const bs of o.batchSizes) {
        const steps = stepsFor(o.tokens * ctx.scale, bs, o.seqLen, 20);
        const name = `w${width}-bs${bs}`;
        // Warmup over a fixed number of tokens (5% of the budget) so that batch sizes compare fairly.
        const warmup = Math.max(1, Math.round(0.05 * steps));
        await ctx.run(name, {
          model: microModel(width, o.layers),
          schedule: stable(o.lr, warmup),
          steps,
          batchSize: bs,
          seqLen: o.seqLen,
          mixture: ctx.mixtures.stable,
          dataSeed: o.seed,
          initSeed: o.seed,
          weightDecay: 0.1,
          evalEvery: Math.max(1, Math.round(steps / 24)),
        });
        curves.set(name, heldOut(ctx.curve(name)));
      }

    const optima: { width: number; level: number; bsTokens: number; edge: boolean }[] = [];
    const table: (string | number)[][] = [];
    for (const width of o.widths) {
      const runs = o.batchSizes.map((bs) => ({ bs, c: curves.get(`w${width}-bs${bs}`)! }));
      const finals = runs.map((r) => Math.min(...r.c.map((p) => p.loss))).sort((a, b) => a - b);
      // From a loss that at least three runs reach down to … the loss at a fifth of the budget.
      const lo = finals[Math.min(2, finals.length - 1)];
      const early = runs
        .map((r) => r.c.find((p) => p.tokens >= 0.2 * o.tokens * ctx.scale)?.loss ?? NaN)
        .filter(Number.isFinite)
        .sort((a, b) => a - b);
      const hi = Math.max(lo + 1e-3, early[Math.floor(early.length / 2)] ?? lo + 0.5);
      for (let i = 0; i < o.levels; i++) {
        const level = hi - ((hi - lo) * i) / Math.max(1, o.levels - 1);
        const need = runs.map((r) => tokensToReach(r.c, level));
        const bsTokens = runs.map((r) => r.bs * o.seqLen);
        const best = logParabolaMin(bsTokens, need);
        if (!Number.isFinite(best.x)) continue;
        optima.push({ width, level, bsTokens: best.x, edge: best.edge });
        table.push([
          width,
          fmt(level),
          ...need.map((t) => (Number.isFinite(t) ? Math.round(t) : '—')),
          Math.round(best.x),
          best.edge ? 'edge' : '',
        ]);
      }
    }
    // An optimum at the edge of the batch grid only bounds the true one: it is not fitted.
    const used = optima.filter((p) => !p.edge);
    let fit: LogLogFit | null = null;
    if (used.length >= 3)
      try {
        fit = logLogLine(
          used.map((p) => p.level),
          used.map((p) => p.bsTokens),
          { seed: o.seed },
        );
      } catch (e) {
        ctx.log(`   no fit: ${(e as Error).message}`);
      }
    const curveRows = [...curves].flatMap(([name, c]) =>
      c.map((p) => ({ tokens: p.tokens, loss: p.loss, run: name })),
    );
    const svgs = [];
    for (const width of o.widths)
      svgs.push(
        await chart(ctx.reportDir, `curves-w${width}`, {
          title: `width ${width}: held-out loss vs tokens, by batch size (sequences of ${o.seqLen})`,
          rows: curveRows.filter((r) => r.run.startsWith(`w${width}-`)),
          x: 'tokens',
          y: 'loss',
          series: 'run',
          logX: true,
        }),
      );
    const fitRows = fit
      ? used.map((p) => ({ loss: p.level, bs: fit.predict(p.level), series: 'fit a / L^b' }))
      : [];
    svgs.push(
      await chart(ctx.reportDir, 'bs-opt', {
        title: 'Optimal batch size (tokens) vs loss, log–log',
        rows: [
          ...optima.map((p) => ({
            loss: p.level,
            bs: p.bsTokens,
            series: `width ${p.width}${p.edge ? ' (edge)' : ''}`,
          })),
          ...fitRows,
        ],
        x: 'loss',
        y: 'bs',
        series: 'series',
        logX: true,
        logY: true,
        yTitle: 'optimal batch size (tokens)',
      }),
    );
    const ci = (v: [number, number]): string => `[${fmt(v[0], 3)}, ${fmt(v[1], 3)}]`;
    return {
      title: 'Sandbox study: optimal batch size vs loss',
      summary: fit
        ? { a: fit.a, b: fit.b, ciA: fit.ci.a, ciB: fit.ci.b, r2: fit.r2, points: used.length }
        : { a: null, b: null, points: used.length },
      sections: [
        {
          title: 'Finding',
          text: fit
            ? `bs_opt = ${fmt(fit.a, 3)} / L^${fmt(fit.b, 3)} (95% CI of b ${ci(fit.ci.b)}, r² ${fmt(fit.r2, 3)}, ${used.length} optima from widths ${o.widths.join(', ')}). ` +
              'MiniCPM: bs_opt = 1.21e9 / L^6.24 on C4 loss. The exponent and prefactor depend on the loss scale (our tokenizer and data differ from C4), so compare the shape: ' +
              (fit.b > 0
                ? 'lower loss wants a larger batch, as MiniCPM found.'
                : 'here lower loss did not want a larger batch, unlike MiniCPM.')
            : `Only ${used.length} of ${optima.length} optima lie inside the batch grid (the others sit at its edge, so they only bound the optimum); too few to fit a line. Widen batchSizes or raise --scale.`,
        },
        { title: 'Curves and optima', svgs },
        {
          title:
            'Tokens to reach each loss level, per batch size (sequences), and the optimum (tokens per step)',
          table: {
            head: ['width', 'loss', ...o.batchSizes.map((b) => `bs ${b}`), 'bs_opt', ''],
            rows: table,
          },
        },
      ],
    };
  },
};
