/**
 * The demo's stage ledger: OUT/stages.json records every finished stage with its wall time and its
 * (JSON) result, replaced atomically (write a temporary file, then rename) once the stage's own outputs
 * are complete. A rerun skips recorded stages and hands back their results; a stage killed midway is not
 * recorded, so it runs again and continues from its own checkpoints or per-item records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DemoError } from './options.js';

export interface StageRecord {
  seconds: number;
  /** CPU time of this process over the stage (user + system, all threads): a measure the machine's load barely changes. */
  cpuSeconds?: number;
  finishedAt: string;
  result: unknown;
}

/** Runs a named stage once (see StageLedger.run). */
export type StageRunner = <T>(name: string, title: string, fn: () => Promise<T>) => Promise<T>;

export interface StageTiming {
  name: string;
  seconds: number;
  cpuSeconds?: number;
  /** Recalled from an earlier run (its seconds are that run's). */
  recalled: boolean;
}

export class StageLedger {
  private readonly file: string;
  private stages: Record<string, StageRecord>;
  readonly timings: StageTiming[] = [];

  constructor(
    readonly dir: string,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.file = path.join(dir, 'stages.json');
    this.stages = {};
    if (fs.existsSync(this.file)) {
      try {
        this.stages = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, StageRecord>;
      } catch (e) {
        throw new DemoError(
          `${this.file} is not valid JSON (${(e as Error).message}): delete it to rerun every stage (finished checkpoints are reused)`,
        );
      }
    }
  }

  done(name: string): boolean {
    return Object.hasOwn(this.stages, name);
  }

  /** Runs `fn` unless `name` is recorded; records its result and time atomically when it returns. */
  async run<T>(name: string, title: string, fn: () => Promise<T>): Promise<T> {
    const rec = this.stages[name];
    if (rec) {
      this.log(`\n== ${title}: done (${rec.seconds.toFixed(1)} s in an earlier run)`);
      this.timings.push({ name, seconds: rec.seconds, cpuSeconds: rec.cpuSeconds, recalled: true });
      return rec.result as T;
    }
    this.log(`\n== ${title}`);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const result = await fn();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    this.stages[name] = { seconds, cpuSeconds, finishedAt: new Date().toISOString(), result: result ?? null };
    this.write();
    this.timings.push({ name, seconds, cpuSeconds, recalled: false });
    this.log(`   (${seconds.toFixed(1)} s, ${cpuSeconds.toFixed(1)} s of CPU)`);
    return result;
  }

  private write(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(this.stages, null, 1));
    fs.renameSync(tmp, this.file);
  }
}
