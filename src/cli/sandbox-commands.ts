/** `minicpm sandbox …`: the model-sandbox studies, and `list`/`show` over the run registry. */
import type { Command } from 'commander';
import { coordCheck, growth, type CoordCheckOptions } from '../sandbox/coord-check.js';
import { writeCoordCheckReport } from '../sandbox/coord-check-report.js';
import { STUDIES } from '../sandbox/studies/index.js';
import { openRegistry, runStudy, SANDBOX_DEFAULTS } from '../sandbox/study.js';
import { mergeChecked, RunConfigError } from './run-config.js';

const ints = (v: string): number[] =>
  v.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`"${x}" is not a positive integer`);
    return n;
  });

const say = (msg: string): void => void process.stderr.write(`${msg}\n`);

/** `--set key=value` pairs typed like the study's defaults (numbers, lists of numbers, strings). */
function parseSets(sets: string[], defaults: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 0) throw new RunConfigError(`--set expects key=value, got "${s}"`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    const d = defaults[key];
    out[key] = Array.isArray(d)
      ? raw.split(',').map((x) => (typeof d[0] === 'number' ? Number(x) : x))
      : typeof d === 'number'
        ? Number(raw)
        : raw;
    if (typeof d === 'number' && !Number.isFinite(out[key]))
      throw new RunConfigError(`--set ${key}: "${raw}" is not a number`);
  }
  return out;
}

function registerCoordCheck(sandbox: Command): void {
  sandbox
    .command('coord-check')
    .description('μP coordinate check: activation RMS per layer across widths, with μP and without')
    .option('--widths <list>', 'comma-separated hidden sizes', '128,256,512,1024')
    .option('--layers <n>', 'layers', '2')
    .option('--steps <n>', 'Adam steps', '8')
    .option('--lr <x>', 'learning rate', '0.01')
    .option('--seq-len <n>', 'sequence length', '64')
    .option('--batch <n>', 'sequences per step', '4')
    .option('--out <dir>', 'report folder', 'runs/coord-check')
    .action(async (o: Record<string, string>) => {
      const opts: CoordCheckOptions = {
        widths: ints(o.widths),
        layers: Number(o.layers),
        steps: Number(o.steps),
        lr: Number(o.lr),
        seqLen: Number(o.seqLen),
        batch: Number(o.batch),
        vocab: 256,
        seed: 0,
      };
      const points = await coordCheck(opts, say);
      const file = await writeCoordCheckReport(o.out, points, opts);
      const fmt = (m: Map<string, number>): string =>
        [...m].map(([k, v]) => `${k} ×${v.toFixed(2)}`).join(', ');
      console.log(`μP growth: ${fmt(growth(points, 'mup', opts.steps - 1))}`);
      console.log(`SP growth: ${fmt(growth(points, 'sp', opts.steps - 1))}`);
      console.log(`report: ${file}`);
    });
}

function registerRegistryCommands(sandbox: Command): void {
  sandbox
    .command('list')
    .description('studies in the run registry with their run counts')
    .option('--root <dir>', 'sandbox folder', SANDBOX_DEFAULTS.root)
    .action((o: { root: string }) => {
      const reg = openRegistry(o.root);
      try {
        const rows = reg.studies().map((s) => {
          const c = reg.countRuns(s.name);
          return {
            study: s.name,
            kind: s.kind,
            status: s.status,
            done: c.done,
            diverged: c.diverged,
            running: c.running,
            failed: c.failed,
            updated: s.updated.slice(0, 19),
            report: s.report ?? '',
          };
        });
        if (!rows.length) console.log(`no studies in ${reg.file} yet: run \`minicpm sandbox lr\` (or another study)`);
        else console.table(rows);
      } finally {
        reg.close();
      }
    });
  sandbox
    .command('show <study> [run]')
    .description('a study (summary and runs) or one run (spec, result, curve) from the registry')
    .option('--root <dir>', 'sandbox folder', SANDBOX_DEFAULTS.root)
    .option('--json', 'print JSON')
    .action((study: string, run: string | undefined, o: { root: string; json?: boolean }) => {
      const reg = openRegistry(o.root);
      try {
        const s = reg.study(study);
        if (!s) throw new RunConfigError(`no study "${study}" in ${reg.file}; \`minicpm sandbox list\` shows them`);
        if (run) {
          const r = reg.run(study, run);
          if (!r) throw new RunConfigError(`study "${study}" has no run "${run}"`);
          const out = { ...r, curve: reg.curve(r.id).filter((p) => p.valLoss !== null) };
          console.log(JSON.stringify(out, null, o.json ? 1 : 2));
          return;
        }
        const runs = reg.runs(study).map((r) => ({
          run: r.name,
          status: r.status,
          valLoss: (r.result?.valLoss as number | null | undefined) ?? null,
          tokens: (r.result?.tokens as number | undefined) ?? null,
          seconds: r.result?.seconds === undefined ? null : Math.round(r.result.seconds as number),
        }));
        if (o.json) return console.log(JSON.stringify({ ...s, runs }, null, 1));
        console.log(`${s.name} (${s.kind}), ${s.status}, updated ${s.updated}`);
        if (s.report) console.log(`report: ${s.report}`);
        if (s.summary) console.log(JSON.stringify(s.summary, null, 1));
        console.table(runs);
      } finally {
        reg.close();
      }
    });
}

export function registerSandboxCommands(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('model-sandbox studies at laptop scale (SPEC.md §4), resumable, with a run registry');
  registerCoordCheck(sandbox);
  registerRegistryCommands(sandbox);
  for (const def of STUDIES) {
    sandbox
      .command(def.kind)
      .description(`${def.description} (options: ${JSON.stringify(def.defaults)})`)
      .option('--scale <x>', 'multiply every run’s training tokens (1: the micro preset, ≈1 h on 2 cores)', '1')
      .option('--set <key=value...>', 'override a study option, e.g. --set widths=64,128', [])
      .option('--name <name>', 'study name in the registry (default: the study, with @scale when not 1)')
      .option('--root <dir>', 'sandbox folder (data, registry.sqlite, studies/)', SANDBOX_DEFAULTS.root)
      .option('--fresh', 'discard this study’s earlier runs and start over')
      .action(async (o: { scale: string; set: string[]; name?: string; root: string; fresh?: boolean }) => {
        const options = mergeChecked(def.defaults, parseSets(o.set, def.defaults), '--set');
        // Ctrl-C finishes the current step and leaves every run resumable; a second Ctrl-C kills.
        const stop = new AbortController();
        process.once('SIGINT', () => {
          say('stopping after this step (Ctrl-C again to kill)…');
          stop.abort();
        });
        const { report, summary } = await runStudy(def, options, {
          signal: stop.signal,
          settings: { ...SANDBOX_DEFAULTS, root: o.root },
          name: o.name,
          scale: Number(o.scale),
          fresh: Boolean(o.fresh),
          log: say,
        });
        console.log(JSON.stringify(summary, null, 1));
        console.log(`report: ${report}`);
      });
  }
}
