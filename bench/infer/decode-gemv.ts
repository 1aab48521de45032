/**
 * The decode GEMVs alone, in GB/s of the weight bytes they stream, next to the DRAM read bandwidth probed
 * between them (bench/peers/limits.c 'read', the probe the infer bench's decode bounds use):
 *
 *   npm run bench -- decode-gemv [--rounds 5] [--threads 1,2] [--gap-us 0] [--only w2|w4|w8|head]
 *                                [--set-mb 128] [--out FILE]
 *
 * One token row (M = 1) through the native qmatmul, as a decode step calls it, at MiniCPM-2B's shapes
 * (bench/infer/shape.ts): W2, W4 g32 and W8 q/k/v fused (3 x 2304 <- 2304), o (2304 <- 2304), gate/up fused
 * (2 x 5760 <- 2304), down (2304 <- 5760), the W4 gate/up symmetric (every zero 8, as Q4_0 and AutoGPTQ
 * sym=True make it: its zeros are not read), and the int8 head (122,753 <- 2,304, W8, symmetric as the
 * engine quantizes it). Random codes, scales and (asymmetric shapes) zeros in the engine's memory (huge pages, as loaded weights are); each layer shape cycles through
 * enough copies (>= 128 MiB by default, four times this machine's L3; --set-mb) that every call reads DRAM, as a decode step
 * does. Bytes counted: codes + fp16 scales + u8 zeros, less a symmetric weight's zeros (what the kernel streams). Each round probes the
 * bandwidth, then times every kernel; rows are medians over rounds, the fraction is against the median
 * probe at the same thread count. `--gap-us N` spins N µs on the calling thread between calls, as a
 * decode step's other work does (long gaps let the pool's workers fall asleep, so each call pays their
 * wake-up). The weights are allocated as the engine allocates them (src/quant/qweight.ts: mid-sized
 * matrices share huge-page chunks, larger ones get a buffer each, both from a 2 MiB boundary; on 4 KiB
 * pages a 2304 x 2304 W4 matrix streamed ~1.85x slower, 13 vs 24 GB/s, one thread, loaded machine). Writes bench/results/decode-gemv.json (or --out FILE).
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../../src/backends/index.js';
import { loadNativeKernels } from '../../src/backends/kernels-native.js';
import { nativeQuantKernels } from '../../src/backends/quant.js';
import { allocQWeight, type QWeight, streamedBytes } from '../../src/quant/qweight.js';
import { limitsProbe, median } from '../lib/machine.js';
import { minicpm2bShape } from './shape.js';

export interface Kernel {
  name: string;
  bits: 2 | 4 | 8;
  K: number;
  ns: number[];
  /** Every zero 2^(bits−1), passed to the kernel as symmetric. */
  sym?: boolean;
}

const PROBE_BYTES = 512 << 20;
const MIN_SET_MB = 128;

export function kernels(): Kernel[] {
  const c = minicpm2bShape(1);
  const d = c.hiddenSize;
  const ff = c.intermediateSize;
  const out: Kernel[] = [];
  for (const bits of [2, 4, 8] as const) {
    out.push({ name: `W${bits} q/k/v`, bits, K: d, ns: [d, d, d] });
    out.push({ name: `W${bits} o`, bits, K: d, ns: [d] });
    out.push({ name: `W${bits} gate/up`, bits, K: d, ns: [ff, ff] });
    out.push({ name: `W${bits} down`, bits, K: ff, ns: [d] });
  }
  out.push({ name: 'W4 sym gate/up', bits: 4, K: d, ns: [ff, ff], sym: true });
  out.push({ name: 'int8 head', bits: 8, K: d, ns: [c.vocabSize], sym: true });
  return out;
}

/** A weight with random codes, fp16 scales in [2^-7, 2^-6) and zeros in the bit width's range (all
 * 2^(bits−1) when `sym`). */
export function randomWeight(bits: 2 | 4 | 8, n: number, K: number, sym = false): QWeight {
  const w = allocQWeight(bits, n, K, null);
  for (let i = 0; i < w.codes.length; i += 65536) randomFillSync(w.codes.subarray(i, i + 65536));
  for (let i = 0; i < w.zeros.length; i += 65536) randomFillSync(w.zeros.subarray(i, i + 65536));
  if (bits !== 8) for (let i = 0; i < w.zeros.length; i++) w.zeros[i] &= bits === 4 ? 15 : 3;
  if (sym) w.zeros.fill(1 << (bits - 1));
  for (let i = 0; i < w.scales.length; i++) w.scales[i] = 0x2000 + ((i * 2654435761) >>> 22);
  return w;
}

/** Copies of a kernel's weights (one set per copy: the fused ones share an input). */
export function weightSets(k: Kernel, minMB = MIN_SET_MB): QWeight[][] {
  const one = () => k.ns.map((n) => randomWeight(k.bits, n, k.K, k.sym));
  const first = one();
  const bytes = first.reduce((a, w) => a + streamedBytes(w), 0);
  const sets = [first];
  while (sets.length * bytes < minMB * 2 ** 20) sets.push(one());
  return sets;
}

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

interface Row {
  kernel: string;
  threads: number;
  bytes: number;
  gbps: number;
  probe_gbps: number;
  fraction: number;
  rounds: number[];
}

export default function main(argv: string[]): void {
  const arg = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
  const rounds = Number(arg('rounds', '5'));
  const threadList = arg('threads', '1,2').split(',').map(Number);
  const gapUs = Number(arg('gap-us', '0'));
  const only = arg('only', '');
  // --set-mb N: each shape's copies fill at least N MiB (default 128, 4x this machine's L3); 1500 is
  // the layer weights of a W4 MiniCPM-2B at its 40 layers
  const setMB = Number(arg('set-mb', String(MIN_SET_MB)));
  useBackend('native');
  const addon = loadNativeKernels();
  const q = nativeQuantKernels();
  if (!addon || !q) throw new Error('decode-gemv needs the native addon (npm run build-native)');
  const probe = limitsProbe();
  if (!probe) console.warn('decode-gemv: the bandwidth probe did not build; fractions are left out');
  const threads0 = addon.getThreads();
  const list = kernels().filter((k) => !only || k.name.toLowerCase().includes(only.toLowerCase()));
  const rows: Row[] = [];
  // one kernel's copies at a time, so memory stays at ~128 MiB plus the head
  for (const k of list) {
    const sets = weightSets(k, setMB);
    const bytes = sets[0].reduce((a, w) => a + streamedBytes(w), 0);
    const x = Float32Array.from({ length: k.K }, (_, i) => Math.sin(i * 0.37) * (i % 7 === 0 ? 3 : 1));
    const total = k.ns.reduce((a, b) => a + b, 0);
    const y = new Float32Array(total);
    const call = (ws: QWeight[]) =>
      q.qmatmul(
        1,
        k.K,
        k.bits,
        x,
        0,
        k.K,
        null,
        ws.map((w) => w.codes),
        ws.map((w) => w.scales),
        ws.map((w) => w.zeros),
        k.ns,
        y,
        0,
        total,
        k.sym ? (1 << k.ns.length) - 1 : 0,
      );
    // every copy at least once, and ~0.25 s of streaming per round at 30 GB/s
    const calls = Math.max(sets.length, Math.ceil((0.25 * 30e9) / bytes));
    for (const t of threadList) {
      addon.setThreads(t);
      const rates: number[] = [];
      const probes: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (probe) probes.push(probe('read', String(t), String(PROBE_BYTES)));
        call(sets[0]); // wakes the pool and touches the input once
        let seconds = 0;
        for (let i = 0; i < calls; i++) {
          const t0 = performance.now();
          call(sets[i % sets.length]);
          seconds += (performance.now() - t0) / 1000;
          if (gapUs > 0) spin(gapUs);
        }
        rates.push((calls * bytes) / seconds / 1e9);
      }
      const gbps = median(rates);
      const probeGbps = probes.length ? median(probes) : NaN;
      rows.push({
        kernel: k.name,
        threads: t,
        bytes,
        gbps,
        probe_gbps: probeGbps,
        fraction: gbps / probeGbps,
        rounds: rates.map((v) => Math.round(v * 10) / 10),
      });
      console.log(
        `${k.name.padEnd(12)} ${t}t  ${(bytes / 1e6).toFixed(1).padStart(6)} MB  ${gbps.toFixed(1).padStart(5)} GB/s` +
          `  probe ${probeGbps.toFixed(1).padStart(5)}  fraction ${(gbps / probeGbps).toFixed(2)}`,
      );
    }
  }
  addon.setThreads(threads0);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = arg('out', path.join(here, '..', 'results', 'decode-gemv.json'));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ bench: 'decode-gemv', date: new Date().toISOString(), gap_us: gapUs, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${out}`);
}
