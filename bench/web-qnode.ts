/**
 * The wasm quantized GEMV against the native one, in one Node process on the same shapes: decode
 * (M = 1) W4 and W8 products of MiniCPM-2B-wide's projections (q/k/v fused 2304 → 3·2304, o 2304 →
 * 2304, gate+up fused 2304 → 2·5760, down 5760 → 2304, the tied head 2304 → 122753), with the wasm module's weights resident in its
 * memory as the wasm backend keeps them. Both backends at --threads, interleaved (native, wasm, native,
 * ...), best of --reps; the outputs are compared (the SIMD128 tiles round the block terms as the
 * TypeScript twin does, the native ones fuse them: equal to f32 rounding). The wasm module runs in
 * Node's V8, Chromium's engine, so this is the kernel part of `npm run bench -- web`'s wasm/native
 * decode ratio without the page.
 *
 *   npm run bench -- web-qnode [--threads 1,2] [--reps 20] [--bits 4,8] [--shapes qkv,o,gate+up,down,head]
 */
import { wasmKernels } from '../src/backends/index.js';
import { loadNativeKernels } from '../src/backends/kernels-native.js';
import { nativeQuantKernels, type QuantKernels } from '../src/backends/quant.js';

const SHAPES: [name: string, K: number, ns: number[]][] = [
  ['qkv', 2304, [2304, 2304, 2304]],
  ['o', 2304, [2304]],
  ['gate+up', 2304, [5760, 5760]],
  ['down', 5760, [2304]],
  ['head', 2304, [122753]], // the tied LM head: most of a 2-layer decode step
];

interface Weights {
  codes: Uint8Array[];
  scales: Uint16Array[];
  zeros: Uint8Array[];
}

/** Random codes, scales 2^-7, mid zeros (the values do not change the work). */
function weights(bits: number, K: number, ns: number[]): Weights {
  let s = 0x2545f491;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const w: Weights = { codes: [], scales: [], zeros: [] };
  for (const n of ns) {
    const blocks = Math.ceil(n / 16) * (K / 32);
    const codes = new Uint8Array(blocks * (bits === 8 ? 512 : 256));
    for (let i = 0; i < codes.length; i++) codes[i] = (r() * 256) | 0;
    const scales = new Uint16Array(blocks * 16).fill(0x2000); // 2^-7
    const zeros = new Uint8Array(blocks * 16).fill(bits === 8 ? 128 : 8);
    w.codes.push(codes);
    w.scales.push(scales);
    w.zeros.push(zeros);
  }
  return w;
}

function timed(f: () => void, times: number[]): void {
  const t = performance.now();
  f();
  times.push(performance.now() - t);
}

export default async function main(args: string[]): Promise<void> {
  const get = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const threads = get('threads', '1,2').split(',').map(Number);
  const reps = Number(get('reps', '20'));
  const bitsList = get('bits', '4,8').split(',').map(Number);
  const shapes = get('shapes', SHAPES.map(([n]) => n).join(',')).split(',');
  const nk = loadNativeKernels();
  const nq = nativeQuantKernels();
  if (!nk || !nq) throw new Error('the native addon is not built: npm run build-native');
  const wk = wasmKernels();
  /** A copy of a in the wasm module's memory (where the wasm backend's allocator puts weights). */
  const resident = <T extends Uint8Array | Uint16Array | Float32Array>(a: T): T => {
    const p = wk.rt.alloc(a.byteLength);
    const C = a.constructor as new (b: ArrayBufferLike, off: number, n: number) => T;
    const out = new C(wk.rt.buffer(), p, a.length);
    (out as Uint8Array).set(a);
    return out;
  };
  for (const bits of bitsList)
    for (const [name, K, ns] of SHAPES.filter(([n]) => shapes.includes(n))) {
      const w = weights(bits, K, ns);
      const ww: Weights = {
        codes: w.codes.map(resident),
        scales: w.scales.map(resident),
        zeros: w.zeros.map(resident),
      };
      const N = ns.reduce((a, b) => a + b, 0);
      const x = new Float32Array(K).map((_, i) => Math.sin(i * 0.37));
      const xw = resident(x);
      const yn = new Float32Array(N),
        yw = resident(new Float32Array(N));
      const run = (k: QuantKernels, xx: Float32Array, ws: Weights, y: Float32Array) => () =>
        k.qmatmul(1, K, bits, xx, 0, K, null, ws.codes, ws.scales, ws.zeros, ns, y, 0, N);
      const fn = run(nq, x, w, yn),
        fw = run(wk, xw, ww, yw);
      for (const t of threads) {
        nk.setThreads(t);
        wk.setThreads(t);
        // the pool's workers join as they come online; time only once they have
        for (let w = 0; w < 200 && wk.rt.workersOnline() < t - 1; w++)
          await new Promise((r) => setTimeout(r, 25));
        for (let i = 0; i < 3; i++) {
          fn();
          fw();
        }
        const tn: number[] = [],
          tw: number[] = [];
        for (let i = 0; i < reps; i++) {
          timed(fn, tn);
          timed(fw, tw);
        }
        // the two round the block terms differently: compare against the output's scale
        let maxDiff = 0,
          maxY = 0;
        for (let j = 0; j < N; j++) {
          maxDiff = Math.max(maxDiff, Math.abs(yn[j] - yw[j]));
          maxY = Math.max(maxY, Math.abs(yn[j]));
        }
        const maxRel = maxDiff / Math.max(1e-30, maxY);
        const msN = Math.min(...tn),
          msW = Math.min(...tw);
        const gbs = (ms: number) => ((N * (K / 32) * (bits === 8 ? 34 : 18)) / (ms * 1e6)).toFixed(1);
        const row =
          `W${bits} ${name.padEnd(7)} K=${K} N=${String(N).padStart(5)} t=${t}: native ${msN.toFixed(3)} ms (${gbs(msN)} GB/s), ` +
          `wasm ${msW.toFixed(3)} ms (${gbs(msW)} GB/s): wasm/native ${(msN / msW).toFixed(2)}` +
          (maxRel > 1e-4 ? `  OUTPUTS DIFFER (max rel ${maxRel.toExponential(1)})` : '');
        console.log(row);
      }
    }
  nk.setThreads(2);
  wk.setThreads(2);
}
