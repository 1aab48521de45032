/**
 * The fuzz loop: for every format, `cases` seeded mutations of its real seed files, each read in a worker
 * thread under a time limit and a heap limit. A case must end in success or one of our typed errors;
 * an untyped exception, a hang (over the time limit) or a crash (the worker dies, e.g. out of memory) is
 * a finding, saved with its files for reproduction.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FuzzRng, mutateBytes, mutateJson } from './mutate.js';
import { setSeedDir, TARGETS } from './targets.js';
import type { CaseOutcome } from './worker.js';

export interface FuzzOptions {
  /** Cases per format. */
  cases: number;
  seed: number;
  /** Per-case time limit. */
  timeoutMs: number;
  /** Formats to run (default: all). */
  targets?: string[];
  /** Where findings are saved (default: none saved). */
  outDir?: string;
  /** Heap limit of the worker, MB. */
  heapMb?: number;
  log?: (msg: string) => void;
}

export interface Finding {
  target: string;
  index: number;
  kind: 'untyped' | 'hang' | 'crash';
  detail: string;
}

export interface TargetReport {
  target: string;
  cases: number;
  ok: number;
  typed: number;
  findings: Finding[];
  /** Error names of the typed endings, with counts. */
  errors: Record<string, number>;
  skipped?: string;
}

const workerFile = path.join(path.dirname(new URL(import.meta.url).pathname), 'worker-entry.mjs');

class CaseRunner {
  private worker: Worker | null = null;

  constructor(private readonly heapMb: number) {}

  private start(): Worker {
    this.worker ??= new Worker(workerFile, {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
      stdout: true,
      stderr: true,
    });
    return this.worker;
  }

  /** Runs one case; a timeout or a dead worker is reported, and the next case gets a fresh worker. */
  run(msg: object, timeoutMs: number): Promise<CaseOutcome | { kind: 'hang' | 'crash'; message: string }> {
    const w = this.start();
    return new Promise((resolve) => {
      const done = (r: CaseOutcome | { kind: 'hang' | 'crash'; message: string }, kill: boolean): void => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        if (kill) {
          void w.terminate();
          this.worker = null;
        }
        resolve(r);
      };
      const onMessage = (r: CaseOutcome): void => done(r, false);
      const onError = (e: Error): void => done({ kind: 'crash', message: `${e.name}: ${e.message}` }, true);
      const onExit = (code: number): void =>
        done({ kind: 'crash', message: `worker exited with ${code}` }, true);
      const timer = setTimeout(
        () => done({ kind: 'hang', message: `no answer in ${timeoutMs} ms` }, true),
        timeoutMs,
      );
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** Writes case `i` of a target under `caseDir`; returns the path its reader takes. */
function makeCase(seed: string, caseDir: string, rng: FuzzRng, mutable: (f: string) => boolean): string {
  fs.rmSync(caseDir, { recursive: true, force: true });
  fs.mkdirSync(caseDir, { recursive: true });
  let target: string;
  let out: string;
  if (fs.statSync(seed).isDirectory()) {
    fs.cpSync(seed, caseDir, { recursive: true });
    const files = listFiles(caseDir).filter(mutable);
    target = path.join(caseDir, rng.pick(files));
    out = caseDir;
  } else {
    target = path.join(caseDir, path.basename(seed));
    fs.copyFileSync(seed, target);
    out = target;
  }
  const bytes = fs.readFileSync(target);
  let mutated: Uint8Array | null = null;
  if (target.endsWith('.json') && rng.int(2) === 0) {
    try {
      mutated = Buffer.from(JSON.stringify(mutateJson(JSON.parse(bytes.toString('utf8')), rng)));
    } catch {
      mutated = null;
    }
  }
  fs.writeFileSync(target, mutated ?? mutateBytes(bytes, rng));
  return out;
}

export async function fuzz(o: FuzzOptions): Promise<TargetReport[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-fuzz-'));
  const seedDir = path.join(work, 'seeds');
  fs.mkdirSync(seedDir);
  setSeedDir(seedDir);
  const runner = new CaseRunner(o.heapMb ?? 1024);
  const reports: TargetReport[] = [];
  try {
    for (const [ti, t] of TARGETS.entries()) {
      if (o.targets && !o.targets.includes(t.name)) continue;
      const report: TargetReport = { target: t.name, cases: 0, ok: 0, typed: 0, findings: [], errors: {} };
      reports.push(report);
      const seeds = await t.seeds();
      if (!seeds.length) {
        report.skipped = 'no seed files here (../shared/fixtures missing?)';
        o.log?.(`${t.name}: skipped, ${report.skipped}`);
        continue;
      }
      const t0 = performance.now();
      for (let i = 0; i < o.cases; i++) {
        const rng = new FuzzRng(o.seed * 1_000_003 + ti * 100_003 + i);
        const caseDir = path.join(work, 'case');
        const p = makeCase(rng.pick(seeds), caseDir, rng, t.mutable ?? (() => true));
        const r = await runner.run({ target: t.name, path: p, seedDir }, o.timeoutMs);
        report.cases++;
        if (r.kind === 'ok') report.ok++;
        else if (r.kind === 'typed') {
          report.typed++;
          report.errors[r.name!] = (report.errors[r.name!] ?? 0) + 1;
        } else {
          const detail =
            'stack' in r && r.stack ? r.stack : `${'name' in r ? `${r.name}: ` : ''}${r.message}`;
          report.findings.push({ target: t.name, index: i, kind: r.kind, detail });
          if (o.outDir) {
            const keep = path.join(o.outDir, t.name, String(i));
            fs.rmSync(keep, { recursive: true, force: true });
            fs.cpSync(caseDir, keep, { recursive: true });
            fs.writeFileSync(path.join(keep, 'finding.txt'), `${r.kind}\n${detail}\n`);
          }
        }
      }
      o.log?.(
        `${t.name}: ${report.cases} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${report.ok} read, ${report.typed} typed errors, ${report.findings.length} findings`,
      );
    }
  } finally {
    await runner.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return reports;
}
