/** RUN_DIR/metrics.jsonl: one JSON line per optimizer step, rewound cleanly on resume. */
import fs from 'node:fs';
import path from 'node:path';

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
  mfu?: number;
  /** Loss on the fixed validation set, and its standard error over the set's batches. */
  val_loss?: number;
  val_loss_se?: number;
  /** The objective's statistics on the validation set (DPO: reward accuracy, margin). */
  val_stats?: Record<string, number>;
  val_bpb?: number;
  phase?: string;
  /** An objective's own statistics (DPO: rewards, margin, accuracy), means over the step's micro-batches. */
  stats?: Record<string, number>;
}

export class MetricsLog {
  private readonly file: string;

  /** Opens RUN/metrics.jsonl, dropping lines at or after `fromStep` (they will be redone). */
  constructor(runDir: string, fromStep: number) {
    fs.mkdirSync(runDir, { recursive: true });
    this.file = path.join(runDir, 'metrics.jsonl');
    if (fs.existsSync(this.file)) {
      const kept = readMetrics(this.file).filter((m) => m.step < fromStep);
      fs.writeFileSync(this.file, kept.map((m) => JSON.stringify(m) + '\n').join(''));
    }
  }

  append(m: StepMetrics): void {
    fs.appendFileSync(this.file, JSON.stringify(m) + '\n');
  }
}

export function readMetrics(file: string): StepMetrics[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StepMetrics];
      } catch {
        return []; // a line cut by a kill mid-write
      }
    });
}
