/**
 * The decode GEMVs behind `bench serve`, alone: bf16 weights, the single-row GEMV (gemmBf16 with
 * M = 1, one stream's decode) and the row-exact multi-row GEMV (gemvRows, a continuous-batching step),
 * at the 2B-wide model's shapes, next to the DRAM read probe (bench/lib/machine.ts):
 *
 *   npm run bench -- serve-kernels [--reps 15] [--mb 160] [--rows 4,8,16] [--threads 2]
 *                                  [--addons name=path,name=path] [--small]
 *
 * Every shape's weights are copied until a pass reads at least --mb MB (more than the L3 cache), so
 * each call streams its weights from DRAM as a layer of a real model does. With several addons (e.g.
 * an older build's minicpm_native.node beside this one) the passes are interleaved in one process,
 * turn by turn in alternating order, and each row gives the medians and the median of the per-turn
 * ratios against the first addon (of wall time, and of the process's CPU time, which counts only the
 * slices the kernels ran in): the VM's bandwidth drifts, and interleaving lets both see the same.
 * Results print only (a tuning tool: bench/results is for the benches the README quotes).
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { loadNativeKernels, type NativeKernels } from '../src/backends/kernels-native.js';
import { limitsProbe, median } from './lib/machine.js';

interface Shape {
  name: string;
  n: number;
  k: number;
}

const SHAPES: Shape[] = [
  { name: 'attn 2304->2304', n: 2304, k: 2304 },
  { name: 'up 2304->5760', n: 5760, k: 2304 },
  { name: 'down 5760->2304', n: 2304, k: 5760 },
  { name: 'head 2304->122753', n: 122753, k: 2304 },
];
const SMALL: Shape[] = [
  { name: 'small 256->640', n: 640, k: 256 },
  { name: 'small head 256->8192', n: 8192, k: 256 },
];

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
}

function loadAddons(spec: string | undefined): { name: string; k: NativeKernels }[] {
  if (!spec) {
    const k = loadNativeKernels();
    if (!k) throw new Error('the native addon is not built: run `npm run build-native`');
    return [{ name: 'this', k }];
  }
  const require = createRequire(import.meta.url);
  return spec.split(',').map((s) => {
    const [name, path] = s.split('=');
    if (!name || !path) throw new Error(`--addons wants name=path[,name=path], got "${s}"`);
    return { name, k: require(resolve(path)) as NativeKernels };
  });
}

/** Weight copies of one shape in aligned (huge-page advised) native memory, as the engine's weights. */
function weights(k: NativeKernels, s: Shape, minBytes: number, seed: number): Uint16Array[] {
  const bytes = s.n * s.k * 2;
  const copies = Math.max(2, Math.ceil(minBytes / bytes));
  return Array.from({ length: copies }, (_, c) => {
    const w = new Uint16Array(k.alignedBuffer(bytes));
    // small bf16 values of both signs (exponent around 2^-4), different per copy
    let r = (seed + c * 7919) >>> 0 || 1;
    for (let i = 0; i < w.length; i++) {
      r ^= r << 13;
      r ^= r >>> 17;
      r ^= r << 5;
      w[i] = 0x3d00 | (r & 0x80ff);
    }
    return w;
  });
}

function xs(rows: number, k: number): Float32Array {
  return Float32Array.from({ length: rows * k }, (_, i) => Math.sin(i * 0.37) * 0.5);
}

/**
 * One pass, every copy through the single-row GEMV (rows 1) or gemvRows: wall seconds, and the
 * process's CPU seconds (all threads), which other tenants' time slices do not inflate.
 */
function pass(
  k: NativeKernels,
  s: Shape,
  W: Uint16Array[],
  rows: number,
  X: Float32Array,
  Y: Float32Array,
): { wall: number; cpu: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (const w of W) {
    if (rows === 1) k.gemmBf16(1, s.n, s.k, 1, X, 0, s.k, w, 0, s.k, 0, Y, 0, s.n);
    else k.gemvRows!(rows, s.n, s.k, X, 0, s.k, w, 0, s.k, Y, 0, s.n);
  }
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

export default function run(args: string[]): void {
  const reps = Number(arg(args, 'reps', '15'));
  const mb = Number(arg(args, 'mb', '160'));
  const rowCounts = [1, ...arg(args, 'rows', '4,8,16').split(',').map(Number)];
  const threads = Number(arg(args, 'threads', '2'));
  const addons = loadAddons(args.includes('--addons') ? arg(args, 'addons', '') : undefined);
  for (const a of addons) {
    a.k.setThreads(threads);
    if (!a.k.gemvRows) throw new Error(`addon ${a.name} has no gemvRows`);
  }
  const probe = limitsProbe();
  const dram = () => (probe ? probe('read', String(threads), String(256 << 20)) : NaN);
  const shapes = args.includes('--small') ? SMALL : SHAPES;
  console.log(
    `bf16 decode GEMVs, ${threads} threads, ${reps} interleaved turns, >= ${mb} MB per pass; ` +
      `addons: ${addons.map((a) => a.name).join(', ')}; DRAM read probe ${dram().toFixed(1)} GB/s`,
  );
  for (const s of shapes) {
    const W = weights(addons[0].k, s, mb * 1e6, s.n + s.k);
    const bytes = W.length * s.n * s.k * 2;
    for (const rows of rowCounts) {
      const X = xs(rows, s.k);
      const Y = new Float32Array(rows * s.n);
      const times = addons.map(() => [] as number[]);
      const cpus = addons.map(() => [] as number[]);
      for (const a of addons) pass(a.k, s, W.slice(0, 1), rows, X, Y); // warm up
      for (let r = 0; r < reps; r++) {
        const order = r % 2 ? [...addons.keys()].reverse() : [...addons.keys()];
        for (const i of order) {
          const t = pass(addons[i].k, s, W, rows, X, Y);
          times[i].push(t.wall);
          cpus[i].push(t.cpu);
        }
      }
      const ratio = (xs: number[][], i: number) => median(xs[0].map((x0, r) => x0 / xs[i][r])).toFixed(3);
      const cells = addons.map((a, i) => {
        const t = median(times[i]);
        const gbs = bytes / t / 1e9;
        const gflops = (2 * rows * s.n * s.k * W.length) / t / 1e9;
        const cpu = (2 * rows * s.n * s.k * W.length) / median(cpus[i]) / 1e9;
        const vs = i ? ` ${ratio(times, i)}x (CPU time ${ratio(cpus, i)}x)` : '';
        return `${a.name} ${gbs.toFixed(1)} GB/s ${gflops.toFixed(0)} GFLOP/s (${cpu.toFixed(0)} per CPU-s)${vs}`;
      });
      console.log(`  ${s.name.padEnd(20)} rows ${String(rows).padStart(2)}: ${cells.join(' | ')}`);
    }
  }
  console.log(`DRAM read probe after: ${dram().toFixed(1)} GB/s`);
}
