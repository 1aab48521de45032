/**
 * Does relaxed SIMD pay for the quantized matmul in Chromium? The kernel module with standard SIMD128
 * (native/wasm/minicpm-kernels.wasm) against the one built with relaxed SIMD (`node scripts/build-wasm.mjs
 * --relaxed` → build/wasm/minicpm-kernels-relaxed.wasm: the tiles' int8 dot products as
 * i32x4.relaxed_dot_i8x16_i7x16_add_s; needs clang 16+), instantiated side by side in one
 * headless Chromium page, one thread, on 2B-wide shapes (K 2304, N 5760): mc_qmatmul for W4 and W8 at
 * M = 1 (decode), 4 and 64 (prefill), interleaved best of --reps. Both must give the same y (the integer
 * work is exact either way); the ratio is the answer.
 *
 *   npm run bench -- web-qmatmul [--reps 7] [--k 2304] [--n 5760]
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveBench } from './web-pages.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The page: both modules over their own shared memories; runQ times one configuration on each. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>qmatmul</title><script type="module">
async function open(url, bits, M, K, N) {
  const mod = await WebAssembly.compileStreaming(fetch(url));
  const memory = new WebAssembly.Memory({ initial: 1024, maximum: 65536, shared: true });
  const x = (await WebAssembly.instantiate(mod, { env: { memory } })).exports;
  x.mc_init();
  x.mc_set_threads(1);
  const B = K / 32, tiles = Math.ceil(N / 16), cb = tiles * B * (bits === 8 ? 512 : 256), pb = tiles * B * 16;
  const p = (n) => x.mc_wasm_zalloc(n) >>> 0;
  const codes = p(cb), scales = p(2 * pb), zeros = p(pb), xs = p(4 * M * K), y = p(4 * M * N), tab = p(128);
  let s = 12345;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
  const u8 = new Uint8Array(memory.buffer);
  for (let i = 0; i < cb; i++) u8[codes + i] = (r() * 256) | 0;
  new Uint16Array(memory.buffer, scales, pb).fill(0x2000);
  new Uint8Array(memory.buffer, zeros, pb).fill(bits === 8 ? 128 : 8);
  const f = new Float32Array(memory.buffer, xs, M * K);
  for (let i = 0; i < f.length; i++) f[i] = r() * 2 - 1;
  new Int32Array(memory.buffer, tab, 32).set([codes, 0, 0, 0, 0, 0, 0, 0, scales, 0, 0, 0, 0, 0, 0, 0, zeros, 0, 0, 0, 0, 0, 0, 0, N]);
  const run = () => x.mc_qmatmul(M, K, bits, xs, K, 0, 1, tab, tab + 32, tab + 64, tab + 96, y, N);
  return { run, y: () => Array.from(new Float32Array(memory.buffer, y, M * N)) };
}
window.runQ = async (bits, M, K, N, reps) => {
  const a = await open('/minicpm-kernels.wasm', bits, M, K, N);
  const b = await open('/r/minicpm-kernels-relaxed.wasm', bits, M, K, N);
  a.run(); b.run();
  const ya = a.y(), yb = b.y();
  const same = ya.every((v, i) => Object.is(v, yb[i]));
  let ta = Infinity, tb = Infinity;
  for (let i = 0; i < reps; i++) {
    let t = performance.now(); a.run(); ta = Math.min(ta, performance.now() - t);
    t = performance.now(); b.run(); tb = Math.min(tb, performance.now() - t);
  }
  return { standardMs: ta, relaxedMs: tb, same };
};
window.qReady = true;
</script>`;

export default async function main(args: string[]): Promise<void> {
  const get = (k: string, d: number) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const reps = get('reps', 7),
    K = get('k', 2304),
    N = get('n', 5760);
  const wasm = path.join(root, 'native', 'wasm');
  const relaxed = path.join(root, 'build', 'wasm');
  if (!existsSync(path.join(relaxed, 'minicpm-kernels-relaxed.wasm')))
    throw new Error(
      'build/wasm/minicpm-kernels-relaxed.wasm is missing: node scripts/build-wasm.mjs --relaxed (needs clang 16+)',
    );
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium`);
  const { server, url } = await serveBench({ '/r/': relaxed, '/': wasm }, { '/q.html': PAGE });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/q.html`);
    await page.waitForFunction(() => (globalThis as unknown as { qReady?: boolean }).qReady === true);
    for (const bits of [4, 8])
      for (const M of [1, 4, 64]) {
        const r = await page.evaluate(
          ([b, m, k, n, rp]) =>
            (
              globalThis as unknown as {
                runQ(...a: number[]): Promise<{ standardMs: number; relaxedMs: number; same: boolean }>;
              }
            ).runQ(b, m, k, n, rp),
          [bits, M, K, N, reps] as const,
        );
        const gflops = (ms: number) => ((2 * M * K * N) / (ms * 1e6)).toFixed(2);
        console.log(
          `W${bits} M=${String(M).padStart(2)} K=${K} N=${N}: standard ${r.standardMs.toFixed(2)} ms (${gflops(r.standardMs)} GFLOP/s), ` +
            `relaxed ${r.relaxedMs.toFixed(2)} ms (${gflops(r.relaxedMs)} GFLOP/s): ${(r.standardMs / r.relaxedMs).toFixed(2)}x` +
            (r.same ? '' : '  OUTPUTS DIFFER'),
        );
      }
  } finally {
    await browser.close();
    server.close();
  }
}
