/**
 * Long run: kill -9 during checkpoint saves. Runs `minicpm train` as a child process and SIGKILLs it at
 * random moments while a checkpoint is being written (a `step-N.tmp-PID` folder exists), --kills times
 * (default 50), resuming with `--resume` after each. After every kill the run must resume, its latest
 * checkpoint must load, and it may lose at most the interval being saved. At the end the killed run's
 * losses are compared with an uninterrupted run of the same flags (exact resume).
 *
 *   node --import tsx scripts/long-run-kill.ts [--kills 50] [--steps 200] [--save-every 2]
 *        [--data SHARDS --mixture NAME] [--out DIR]
 * Without --data it trains the shared tiny-mha fixture on its fixed batch.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { readMetrics } from '../src/train/metrics.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const kills = Number(flag('kills', '50'));
const steps = Number(flag('steps', '200'));
const saveEvery = Number(flag('save-every', '2'));
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const out = flag('out', fs.mkdtempSync(path.join(os.tmpdir(), 'minicpm-kill-')));
const data = flag('data', '');
const fixture = path.resolve(root, '../shared/fixtures/minicpm/tiny-mha');
const dataFlags = data
  ? [
      '--data',
      data,
      '--preset',
      'tiny',
      '--vocab-size',
      flag('vocab-size', '8192'),
      '--seq-len',
      '64',
      '--batch-size',
      '4',
    ].concat(flag('mixture', '') ? ['--mixture', flag('mixture', '')] : [])
  : ['--init', fixture, '--overfit-batch', path.join(fixture, 'expected.json')];
const common = [
  ...dataFlags,
  '--steps',
  String(steps),
  '--save-every',
  String(saveEvery),
  '--keep-last',
  '2',
  '--schedule',
  'wsd',
  '--warmup-steps',
  '5',
  '--lr',
  '0.01',
  '--no-report',
];
const cli = path.join(root, 'bin/minicpm.mjs');

let seed = Number(flag('seed', '1'));
const random = (): number => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};

function train(
  extra: string[],
  onChild?: (pid: number) => void,
): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'train', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    onChild?.(child.pid!);
    child.on('exit', (code, signal) => {
      if (code && code !== 0) console.error(err);
      resolve({ code, signal });
    });
  });
}

const ckptDir = (run: string): string => path.join(run, 'checkpoints');
/** The checkpoint folder being written now, if any. */
const savingNow = (run: string): string | undefined =>
  fs.existsSync(ckptDir(run))
    ? fs.readdirSync(ckptDir(run)).find((d) => /^step-\d+\.tmp-/.test(d))
    : undefined;
const latestStep = (run: string): number => {
  try {
    return loadCheckpoint(run).state.step;
  } catch {
    return 0;
  }
};

const straight = path.join(out, 'straight');
const killed = path.join(out, 'killed');
console.log(`uninterrupted run → ${straight}`);
if ((await train([...common, '--out', straight])).code !== 0) throw new Error('the uninterrupted run failed');

let done = 0;
let lostMax = 0;
const t0 = performance.now();
while (done < kills) {
  const before = latestStep(killed);
  if (before >= steps) break;
  const resume = fs.existsSync(path.join(ckptDir(killed), 'latest.json'));
  let killedAt = -1;
  const r = await train(resume ? ['--resume', killed] : [...common, '--out', killed], (pid) => {
    // poll for saves in progress; kill during the 1st, 2nd or 3rd one seen (so the run advances between
    // kills), after a random part of it
    const target = 1 + Math.floor(random() * 3);
    const seen = new Set<string>();
    const timer = setInterval(() => {
      const tmp = savingNow(killed);
      if (!tmp) return;
      seen.add(tmp);
      if (seen.size < target) return;
      clearInterval(timer);
      setTimeout(() => {
        const m = readMetrics(path.join(killed, 'metrics.jsonl'));
        killedAt = m.length ? m[m.length - 1].step + 1 : 0;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // it finished first
        }
      }, random() * 15);
    }, 1);
  });
  if (r.signal !== 'SIGKILL') {
    if (r.code !== 0) throw new Error(`the run failed after ${done} kills (exit ${r.code})`);
    break; // it finished before a kill landed
  }
  done++;
  // the run must still resume from a complete checkpoint, and lose at most the interval being saved
  const after = latestStep(killed);
  const lost = killedAt - after;
  lostMax = Math.max(lostMax, lost);
  if (after < before) throw new Error(`kill ${done}: latest went back from step ${before} to ${after}`);
  if (lost > saveEvery)
    throw new Error(
      `kill ${done}: killed at step ${killedAt}, latest is ${after}: lost more than one interval`,
    );
  if (done % 10 === 0) console.log(`${done} kills, latest step ${after}/${steps}`);
}
// finish the run, then compare it with the uninterrupted one
const last = fs.existsSync(path.join(ckptDir(killed), 'latest.json'))
  ? ['--resume', killed, '--steps', String(steps)]
  : [...common, '--out', killed];
if ((await train(last)).code !== 0) throw new Error('the final resume failed');
const a = readMetrics(path.join(straight, 'metrics.jsonl'));
const b = readMetrics(path.join(killed, 'metrics.jsonl'));
const maxDiff = Math.max(...a.map((m, i) => Math.abs(m.loss - (b[i]?.loss ?? Infinity))));
const result = {
  kills: done,
  steps,
  saveEvery,
  finalStep: latestStep(killed),
  maxStepsLost: lostMax,
  maxLossDiffVsUninterrupted: maxDiff,
  sameSteps: b.map((m) => m.step).join() === a.map((m) => m.step).join(),
  seconds: (performance.now() - t0) / 1000,
};
console.log(JSON.stringify(result));
if (result.finalStep !== steps || !result.sameSteps || !(maxDiff < 1e-4)) process.exit(1);
