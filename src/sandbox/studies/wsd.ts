/**
 * Study 3, `wsd`: WSD with 10% and 2.5% exponential decays vs Cosine(T = S) at several lengths
 * (MiniCPM: 0.036B at 20N…80N tokens). The WSD runs are decays branched off ONE stable run, which
 * is also the continuation experiment: the 80N model is the 20N run trained on and decayed later,
 * compared with a cosine planned for 80N from the start.
 */
import { nonEmbeddingParams } from '../../models/presets.js';
import { microModel, runConfig } from '../micro-model.js';
import type { RunResult, RunSpec } from '../runner.js';
import { stepsFor, type StudyDefinition } from '../study.js';
import { chart, cosine, decayFrom, fmt, stable } from './common.js';

export const WSD_DEFAULTS = {
  width: 64,
  layers: 4,
  /** Training lengths in multiples of N (non-embedding parameters), as MiniCPM's 20N…80N. */
  lengths: [20, 40, 60, 80],
  /** Decay lengths as fractions of each run's total steps. */
  decays: [0.1, 0.025],
  lr: 0.01,
  batchSize: 16,
  seqLen: 128,
  seed: 0,
};

export const wsdStudy: StudyDefinition<typeof WSD_DEFAULTS> = {
  kind: 'wsd',
  description: 'WSD (10% and 2.5% decay, branched off one stable run) vs Cosine(T=S) at several lengths',
  defaults: WSD_DEFAULTS,
  async execute(ctx, o) {
    const model = microModel(o.width, o.layers);
    const N = nonEmbeddingParams(runConfig(model, ctx.vocabSize));
    const lengths = o.lengths.map((m) => ({ m, steps: stepsFor(m * N * ctx.scale, o.batchSize, o.seqLen) }));
    const warmup = Math.max(1, Math.round(0.05 * lengths[0].steps));
    const evalEvery = Math.max(1, Math.round(lengths[0].steps / 8));
    const base = {
      model,
      batchSize: o.batchSize,
      seqLen: o.seqLen,
      mixture: ctx.mixtures.stable,
      dataSeed: o.seed,
      initSeed: o.seed,
      weightDecay: 0.1,
      evalEvery,
    };
    const branchAt = (steps: number, frac: number): number => steps - Math.max(1, Math.round(frac * steps));
    const pins = [...new Set(lengths.flatMap((l) => o.decays.map((f) => branchAt(l.steps, f))))].sort(
      (a, b) => a - b,
    );
    const stableSpec: RunSpec = {
      ...base,
      schedule: stable(o.lr, warmup),
      steps: pins[pins.length - 1],
      keepSteps: pins,
    };
    await ctx.run('stable', stableSpec);
    type Row = { m: number; method: string; r: RunResult; name: string };
    const rows: Row[] = [];
    for (const { m, steps } of lengths) {
      for (const f of o.decays) {
        const at = branchAt(steps, f);
        const name = `wsd${f * 100}-${m}N`;
        const r = await ctx.run(name, {
          ...base,
          schedule: decayFrom(o.lr, warmup, at, steps - at),
          steps,
          branch: { from: 'stable', step: at },
        });
        rows.push({ m, method: `WSD ${f * 100}% decay`, r, name });
      }
      const name = `cosine-${m}N`;
      const sched = { ...cosine(o.lr, steps), warmupSteps: warmup };
      const r = await ctx.run(name, { ...base, schedule: sched, steps });
      rows.push({ m, method: 'Cosine(T=S)', r, name });
    }

    const loss = (m: number, method: string): number =>
      rows.find((x) => x.m === m && x.method === method)?.r.valLoss ?? NaN;
    const methods = [...new Set(rows.map((r) => r.method))];
    const table = lengths.map(({ m, steps }) => [
      `${m}N`,
      steps * o.batchSize * o.seqLen,
      ...methods.map((k) => fmt(loss(m, k))),
      ...o.decays.map((f) => fmt(loss(m, `WSD ${f * 100}% decay`) - loss(m, 'Cosine(T=S)'), 3)),
    ]);
    const wins = (f: number): number =>
      lengths.filter(({ m }) => loss(m, `WSD ${f * 100}% decay`) <= loss(m, 'Cosine(T=S)')).length;
    const curves = ['stable', ...rows.map((r) => r.name)].flatMap((name) =>
      ctx
        .curve(name)
        .filter((p) => p.valLoss !== null)
        .map((p) => ({ tokens: p.tokens, loss: p.valLoss, run: name })),
    );
    const svgs = [
      await chart(ctx.reportDir, 'wsd-curves', {
        title: 'Held-out loss vs tokens: the stable run, its decays, and the cosine runs',
        rows: curves.filter((c) => !c.run.startsWith('wsd2.5')),
        x: 'tokens',
        y: 'loss',
        series: 'run',
        logX: true,
        width: 640,
        height: 360,
      }),
      await chart(ctx.reportDir, 'wsd-final', {
        title: 'Final held-out loss vs training length',
        rows: rows.map((r) => ({ tokens: r.r.tokens, loss: r.r.valLoss, method: r.method })),
        x: 'tokens',
        y: 'loss',
        series: 'method',
        logX: true,
      }),
    ];
    const lastM = lengths[lengths.length - 1].m;
    const summary = {
      nonEmbeddingParams: N,
      losses: Object.fromEntries(
        lengths.map(({ m }) => [`${m}N`, Object.fromEntries(methods.map((k) => [k, loss(m, k)]))]),
      ),
      wsdBeatsCosine: Object.fromEntries(
        o.decays.map((f) => [`${f * 100}%`, `${wins(f)}/${lengths.length}`]),
      ),
    };
    return {
      title: 'Sandbox study: WSD vs cosine, and continuing a stable run',
      summary,
      sections: [
        {
          title: 'Finding',
          text:
            `Model: width ${o.width}, ${o.layers} layers, N = ${N} non-embedding parameters, lr ${o.lr}. ` +
            o.decays
              .map(
                (f) =>
                  `WSD with a ${f * 100}% decay matches or beats Cosine(T=S) at ${wins(f)} of ${lengths.length} lengths`,
              )
              .join('; ') +
            `. The ${lastM}N WSD model continues the stable run that also produced the shorter models and is decayed only at the end; ` +
            `its loss ${fmt(loss(lastM, `WSD ${o.decays[0] * 100}% decay`))} vs ${fmt(loss(lastM, 'Cosine(T=S)'))} for a cosine planned for ${lastM}N. ` +
            "MiniCPM (0.036B): a 10% decay matches or beats cosine, 2.5% falls short, and a continued stable run reaches the planned cosine's loss.",
        },
        { title: 'Curves', svgs },
        {
          title: 'Final held-out loss',
          table: {
            head: ['length', 'tokens', ...methods, ...o.decays.map((f) => `WSD ${f * 100}% − cosine`)],
            rows: table,
          },
        },
      ],
    };
  },
};
