/**
 * A/B of the decode GEMVs between addon builds, in one process (a tuning tool; results print only):
 *
 *   npm run bench -- decode-gemv-ab --addons name=path,name=path [--turns 7] [--threads 2] [--only w8]
 *                                   [--mb 1500] [--isa avx2]   (--isa: every addon on that ISA's kernels)
 *
 * The same weights as `bench decode-gemv` (bench/infer/decode-gemv.ts: MiniCPM-2B's W4/W8 layer shapes
 * and the int8 head, random codes in the engine's huge-page memory, enough copies that every call reads
 * DRAM) go through each addon's qmatmul with one token row. Every turn probes the DRAM read bandwidth
 * (bench/peers/limits.c 'read'), then streams about --mb MB (whole passes over the copies) per addon, in alternating order; a
 * row gives each addon's median GB/s, its median fraction of the same turn's probe, and the median of
 * the fastest turn's GB/s, and the per-turn ratios against the first addon, of wall time and of the process's CPU time (which the
 * slices other tenants take from our threads do not inflate). The VM's bandwidth swings by 2x within minutes, so
 * only numbers taken in the same turns compare. Each addon checks its outputs against the first one's
 * bit for bit before timing (a faster kernel that changes results is a bug, not a win).
 */
import { useBackend } from '../src/backends/index.js';
import type { QuantKernels } from '../src/backends/kernels-quant.js';
import { loadNativeKernels, type NativeIsa, type NativeKernels } from '../src/backends/kernels-native.js';
import { type QWeight, streamedBytes } from '../src/quant/qweight.js';
import { kernels, weightSets, type Kernel } from './infer/decode-gemv.js';
import { type Addon, arg, loadAddons } from './lib/addons.js';
import { limitsProbe, median } from './lib/machine.js';

/** One token row of kernel `kn` through addon `a` against weights `ws`, into y. */
function call(a: Addon, kn: Kernel, ws: QWeight[], x: Float32Array, y: Float32Array): void {
  const total = kn.ns.reduce((s, n) => s + n, 0);
  a.k.qmatmul(
    1,
    kn.K,
    kn.bits,
    x,
    0,
    kn.K,
    null,
    ws.map((w) => w.codes),
    ws.map((w) => w.scales),
    ws.map((w) => w.zeros),
    kn.ns,
    y,
    0,
    total,
    kn.sym ? (1 << kn.ns.length) - 1 : 0, // an addon from before the mask ignores it and reads the zeros
  );
}

export default function run(args: string[]): void {
  const turns = Number(arg(args, 'turns', '7'));
  const threads = Number(arg(args, 'threads', '2'));
  const mb = Number(arg(args, 'mb', '1500'));
  const only = arg(args, 'only', '').toLowerCase();
  const isa = arg(args, 'isa', '');
  const spec = arg(args, 'addons', '');
  useBackend('native');
  if (!loadNativeKernels()) throw new Error('decode-gemv-ab needs the native addon (npm run build-native)');
  const addons: Addon[] = spec
    ? loadAddons(spec)
    : [{ name: 'this', k: loadNativeKernels() as NativeKernels & QuantKernels }];
  for (const a of addons) {
    a.k.setThreads(threads);
    if (isa && !a.k.setIsa(isa as NativeIsa))
      throw new Error(`addon ${a.name} cannot run ${isa} kernels here`);
  }
  const probe = limitsProbe();
  const dram = () => (probe ? probe('read', String(threads), String(256 << 20)) : NaN);
  console.log(
    `decode GEMVs, ${threads} threads, ${turns} turns${isa ? `, ${isa} kernels` : ''}; addons: ${addons.map((a) => a.name).join(', ')}`,
  );
  for (const kn of kernels().filter((k) => !only || k.name.toLowerCase().includes(only))) {
    const sets = weightSets(kn);
    const loops = Math.max(
      1,
      Math.round((mb * 1e6) / (sets.length * streamedBytes(sets[0][0]) * kn.ns.length)),
    );
    const bytes = loops * sets.length * sets[0].reduce((s, w) => s + streamedBytes(w), 0);
    const x = Float32Array.from({ length: kn.K }, (_, i) => Math.sin(i * 0.37) * (i % 7 === 0 ? 3 : 1));
    const total = kn.ns.reduce((s, n) => s + n, 0);
    const ys = addons.map(() => new Float32Array(total));
    // a build from before a width existed rejects its weights: that kernel is left out of the A/B
    const refusing = addons.find((a, i) => {
      try {
        call(a, kn, sets[0], x, ys[i]);
        return false;
      } catch (e) {
        if (e instanceof RangeError) return true;
        throw e;
      }
    });
    if (refusing) {
      console.log(
        `${kn.name.padEnd(12)} skipped: addon ${refusing.name} does not run ${kn.bits}-bit weights`,
      );
      continue;
    }
    for (let i = 1; i < addons.length; i++) {
      const bad = ys[i].findIndex((v, j) => !Object.is(v, ys[0][j]));
      if (bad >= 0)
        throw new Error(`${addons[i].name} differs from ${addons[0].name} at ${kn.name} row ${bad}`);
    }
    const times = addons.map(() => [] as number[]);
    const cpus = addons.map(() => [] as number[]);
    const fractions = addons.map(() => [] as number[]);
    const probes: number[] = [];
    for (let r = 0; r < turns; r++) {
      const p = dram();
      probes.push(p);
      const order = r % 2 ? [...addons.keys()].reverse() : [...addons.keys()];
      for (const i of order) {
        call(addons[i], kn, sets[0], x, ys[i]); // wakes this addon's pool
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        for (let l = 0; l < loops; l++) for (const ws of sets) call(addons[i], kn, ws, x, ys[i]);
        const s = (performance.now() - t0) / 1000;
        const c = process.cpuUsage(c0);
        times[i].push(s);
        cpus[i].push((c.user + c.system) / 1e6);
        fractions[i].push(bytes / s / 1e9 / p);
      }
    }
    const cells = addons.map((a, i) => {
      const gbs = bytes / median(times[i]) / 1e9;
      const ratio = (xs: number[][]) => median(xs[0].map((t, r) => t / xs[i][r])).toFixed(3);
      const vs = i ? ` ${ratio(times)}x (CPU time ${ratio(cpus)}x)` : '';
      const best = bytes / Math.min(...times[i]) / 1e9;
      return `${a.name} ${gbs.toFixed(1)} GB/s ${median(fractions[i]).toFixed(2)} (best ${best.toFixed(1)})${vs}`;
    });
    const probeText = `probe ${median(probes).toFixed(1)} (best ${Math.max(...probes).toFixed(1)})`;
    console.log(`${kn.name.padEnd(12)} ${probeText}: ${cells.join(' | ')}`);
  }
}
