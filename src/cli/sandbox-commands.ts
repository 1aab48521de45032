/** `minicpm sandbox …`: the model-sandbox studies (thin wrappers over src/sandbox). */
import type { Command } from 'commander';
import { coordCheck, growth, type CoordCheckOptions } from '../sandbox/coord-check.js';
import { writeCoordCheckReport } from '../sandbox/coord-check-report.js';

const ints = (v: string): number[] =>
  v.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`"${x}" is not a positive integer`);
    return n;
  });

export function registerSandboxCommands(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('model-sandbox studies at laptop scale (SPEC.md §4)');
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
      const points = await coordCheck(opts, (m) => process.stderr.write(`${m}\n`));
      const file = await writeCoordCheckReport(o.out, points, opts);
      const fmt = (m: Map<string, number>): string =>
        [...m].map(([k, v]) => `${k} ×${v.toFixed(2)}`).join(', ');
      console.log(`μP growth: ${fmt(growth(points, 'mup', opts.steps - 1))}`);
      console.log(`SP growth: ${fmt(growth(points, 'sp', opts.steps - 1))}`);
      console.log(`report: ${file}`);
    });
}
