/**
 * The quantized prefill GEMMs alone, A/B between addon builds in one process (a tuning tool; results
 * print only):
 *
 *   npm run bench -- prefill-gemm-ab [--addons name=path,name=path] [--turns 9] [--threads 2]
 *                                    [--bits 4,8] [--prompt 512] [--w8-zeros 128|random]
 *
 * The 2B-wide MiniCPM's projection shapes as a prefill runs them (fused q/k/v 2304 -> 6912, o 2304 ->
 * 2304, fused gate/up 2304 -> 11520, down 5760 -> 2304), --prompt token rows, random W4 codes and zeros
 * (0..15, as RTN makes them) and W8 codes with every zero 128 (our W8 and GGUF Q8_0; `--w8-zeros random`
 * takes the zero-point path of native/src/qprefill.h instead). Each turn runs every shape once per
 * addon, in alternating order; a row gives each addon's median GFLOP/s and best, and the per-turn
 * ratios of wall time and of the process's CPU time against the first addon (CPU time is not inflated
 * by the slices other tenants take, but counts the pool's spin at the end of each call). `layer` is
 * the four shapes' summed medians. Without --addons it times the addon this checkout loads. Each addon
 * checks its outputs against the first one's bit for bit before timing.
 */
import { useBackend } from '../src/backends/index.js';
import type { QuantKernels } from '../src/backends/kernels-quant.js';
import { loadNativeKernels, type NativeKernels } from '../src/backends/kernels-native.js';
import { type Addon, arg, loadAddons } from './lib/addons.js';
import { median } from './lib/machine.js';

interface Shape {
  name: string;
  K: number;
  ns: number[];
}
interface Weight {
  codes: Uint8Array;
  scales: Uint16Array;
  zeros: Uint8Array;
}

const SHAPES: Shape[] = [
  { name: 'q/k/v', K: 2304, ns: [2304, 2304, 2304] },
  { name: 'o', K: 2304, ns: [2304] },
  { name: 'gate/up', K: 2304, ns: [5760, 5760] },
  { name: 'down', K: 5760, ns: [2304] },
];

/** A weight of n rows in the kernel layout (src/quant/qweight.ts), from a fixed xorshift stream. */
function weight(bits: 4 | 8, n: number, K: number, seed: number, w8Zeros: string): Weight {
  let s = seed >>> 0 || 1;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
  const blocks = Math.ceil(n / 16) * (K / 32);
  const codes = new Uint8Array(blocks * (bits === 8 ? 512 : 256));
  const scales = new Uint16Array(blocks * 16);
  const zeros = new Uint8Array(blocks * 16);
  for (let i = 0; i < codes.length; i++) codes[i] = bits === 8 ? 1 + (next() % 255) : next() & 255;
  for (let i = 0; i < scales.length; i++) {
    scales[i] = 0x2000 + (next() & 0x3ff); // fp16 in [2^-7, 2^-6)
    zeros[i] = bits === 4 ? next() % 16 : w8Zeros === 'random' ? next() & 255 : 128;
  }
  return { codes, scales, zeros };
}

function call(a: Addon, M: number, sh: Shape, bits: number, ws: Weight[], x: Float32Array, y: Float32Array) {
  const total = sh.ns.reduce((s, n) => s + n, 0);
  a.k.qmatmul(
    M,
    sh.K,
    bits,
    x,
    0,
    sh.K,
    null,
    ws.map((w) => w.codes),
    ws.map((w) => w.scales),
    ws.map((w) => w.zeros),
    sh.ns,
    y,
    0,
    total,
  );
}

export default function run(args: string[]): void {
  const turns = Number(arg(args, 'turns', '9'));
  const threads = Number(arg(args, 'threads', '2'));
  const M = Number(arg(args, 'prompt', '512'));
  const w8Zeros = arg(args, 'w8-zeros', '128');
  const bitsList = arg(args, 'bits', '4,8').split(',').map(Number) as (4 | 8)[];
  if (bitsList.some((b) => b !== 4 && b !== 8)) throw new Error('--bits takes 4 and/or 8');
  if (w8Zeros !== '128' && w8Zeros !== 'random') throw new Error('--w8-zeros takes 128 or random');
  useBackend('native');
  if (!loadNativeKernels()) throw new Error('prefill-gemm-ab needs the native addon (npm run build-native)');
  const spec = arg(args, 'addons', '');
  const addons: Addon[] = spec
    ? loadAddons(spec)
    : [{ name: 'this', k: loadNativeKernels() as NativeKernels & QuantKernels }];
  for (const a of addons) a.k.setThreads(threads);
  console.log(
    `prefill GEMMs, ${M} token rows, ${threads} threads, ${turns} turns, W8 zeros ${w8Zeros}; ` +
      `addons: ${addons.map((a) => a.name).join(', ')} (GFLOP/s)`,
  );
  const xs = new Map<number, Float32Array>();
  for (const K of new Set(SHAPES.map((s) => s.K)))
    xs.set(
      K,
      Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37) * (i % 7 === 0 ? 3 : 1)),
    );
  for (const bits of bitsList) {
    const sums = addons.map(() => 0);
    let flopsAll = 0;
    for (const [si, sh] of SHAPES.entries()) {
      const ws = sh.ns.map((n, i) => weight(bits, n, sh.K, 1 + 97 * si + i, w8Zeros));
      const x = xs.get(sh.K)!;
      const total = sh.ns.reduce((s, n) => s + n, 0);
      const flops = 2 * M * sh.K * total;
      const ys = addons.map(() => new Float32Array(M * total));
      addons.forEach((a, i) => call(a, M, sh, bits, ws, x, ys[i]));
      for (let i = 1; i < addons.length; i++) {
        const bad = ys[i].findIndex((v, j) => !Object.is(v, ys[0][j]));
        if (bad >= 0)
          throw new Error(`${addons[i].name} differs from ${addons[0].name} at ${sh.name} [${bad}]`);
      }
      const times = addons.map(() => [] as number[]);
      const cpus = addons.map(() => [] as number[]);
      for (let r = 0; r < turns; r++) {
        const order = r % 2 ? [...addons.keys()].reverse() : [...addons.keys()];
        for (const i of order) {
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          call(addons[i], M, sh, bits, ws, x, ys[i]);
          const c = process.cpuUsage(c0);
          times[i].push((performance.now() - t0) / 1000);
          cpus[i].push((c.user + c.system) / 1e6);
        }
      }
      flopsAll += flops;
      const cells = addons.map((a, i) => {
        sums[i] += median(times[i]);
        const ratio = (v: number[][]) => median(v[0].map((t, r) => t / v[i][r])).toFixed(3);
        const vs = i ? ` ${ratio(times)}x (CPU time ${ratio(cpus)}x)` : '';
        const rate = (t: number) => (flops / t / 1e9).toFixed(0);
        return `${a.name} ${rate(median(times[i]))} (best ${rate(Math.min(...times[i]))})${vs}`;
      });
      console.log(`W${bits} ${sh.name.padEnd(8)} ${cells.join(' | ')}`);
    }
    const layer = addons.map((a, i) => `${a.name} ${(flopsAll / sums[i] / 1e9).toFixed(0)}`);
    console.log(`W${bits} layer    ${layer.join(' | ')}`);
  }
}
