#!/usr/bin/env node
/**
 * Builds the wasm backend's kernels: the portable C of native/src (GEMM driver, portable tiles, NN
 * kernels) plus native/wasm (SIMD128 tiles and GEMVs, the worker pool, a small libc) compiled by
 * clang --target=wasm32 with SIMD128, atomics and bulk memory, linked by wasm-ld into one module
 * that imports a shared memory and needs no JavaScript glue: native/wasm/minicpm-kernels.wasm; and the
 * same without threads over an unshared memory (minicpm-kernels-st.wasm) for pages that are not
 * cross-origin isolated.
 *
 * The module is committed (and shipped, native/ is in the package's files) so that users, the
 * browser page and a plain `npm install` need no clang; this script is for developers and CI (Debian:
 * apt-get install clang lld). It also writes minicpm-kernels.sources.sha256, the hash of every input
 * file, which test/backends/wasm-build.test.ts checks so a stale module cannot go unnoticed.
 *
 *   node scripts/build-wasm.mjs [--check | --relaxed]   --check: only say whether the modules are up to date;
 *                                                       --relaxed: only the relaxed-SIMD experiment (below)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'src');
const wasmDir = join(root, 'native', 'wasm');
const out = join(wasmDir, 'minicpm-kernels.wasm');
/* The same kernels without threads, over an unshared memory: for pages that are not cross-origin isolated. */
const outSt = join(wasmDir, 'minicpm-kernels-st.wasm');
/* With --relaxed: the threaded module with relaxed SIMD (the quantized tiles' int8 dot products), built
 * into build/wasm for `npm run bench -- web-qmatmul` only. Measured in Chromium it did not pay (decode
 * slower, W8 slower everywhere; see that bench), so it is neither committed nor loaded. Needs clang 16+
 * (Debian: clang-16 lld-16). */
const outRelaxed = join(root, 'build', 'wasm', 'minicpm-kernels-relaxed.wasm');
const wantRelaxed = process.argv.includes('--relaxed');
const stamp = join(wasmDir, 'minicpm-kernels.sources.sha256');

/* The portable kernel files of native/src that go into the module, unchanged. The rest of native/src
 * is host-only (N-API addon, pthread pool, CPU detection, x86 intrinsics). A new portable kernel file
 * is added here, and its entry points to EXPORTS. */
const PORTABLE = [
  'gemm.c',
  'gemm-scalar.c',
  'nn.c',
  'nn-attention.c',
  'nn-generic.c',
  'qmatmul.c',
  'kernel-alloc.c',
  'attention-kv8.c',
  'gemv-rows.c',
];
const HEADERS = [
  'internal.h',
  'mc.h',
  'nn.h',
  'nn-internal.h',
  'nn-impl.h',
  'pack-generic.h',
  'qmatmul.h',
  'qgemv.h', // included by qmatmul.c (its x86 decode GEMV; nothing of it runs in wasm)
  'qprefill.h', // likewise, under MC_X86
  'attention-kv8.h',
  'attention-kv8-impl.h',
  'gemv-rows.h',
];

export const EXPORTS = [
  'mc_sgemm',
  'mc_sgemm_batched',
  'mc_gemm_bf16',
  'mc_gemv_many',
  'mc_gemv_rows',
  'mc_rmsnorm_fwd',
  'mc_rmsnorm_bwd',
  'mc_softmax_fwd',
  'mc_softmax_bwd',
  'mc_ce_fwd',
  'mc_ce_bwd',
  'mc_swiglu_fwd',
  'mc_swiglu_bwd',
  'mc_rope',
  'mc_adamw',
  'mc_unary',
  'mc_unary_grad',
  'mc_binary',
  'mc_affine',
  'mc_reduce',
  'mc_attention_fwd',
  'mc_attention_fwd_bf16kv',
  'mc_attention_bwd',
  'mc_kv8_quantize',
  'mc_attention_fwd_kv8',
  'mc_take_alloc_failure',
  'mc_qquantize',
  'mc_qmatmul',
  'mc_init',
  'mc_set_isa',
  'mc_wasm_isa',
  'mc_set_threads',
  'mc_get_threads',
  'mc_wasm_zalloc',
  'free',
  'mc_wasm_heap_used',
  'mc_wasm_heap_reserved',
  'mc_wasm_worker',
  'mc_wasm_workers_alive',
  'mc_wasm_pool_stop',
  '__stack_pointer',
  '__heap_base',
];

const CFLAGS = [
  '--target=wasm32',
  '-O3',
  '-std=gnu11',
  '-msimd128',
  '-mbulk-memory',
  '-mmutable-globals',
  '-nostdlib',
  '-fno-math-errno',
  '-fopenmp-simd',
  '-ffp-contract=off',
  '-Wall',
  '-Wextra',
  '-Wno-unused-parameter',
  '-Werror',
  '-isystem',
  join(wasmDir, 'include'),
  // clang leaves the `omp simd reduction(max)` loops of nn-impl.h scalar (NaN-exact max has no SIMD128
  // reduction); they are one pass over a row next to the vectorized exp passes
  '-Wno-pass-failed',
];
/* Memory is imported (the JS side creates it shared, up to the 4 GiB of wasm32); 1 MiB of stack for
 * the calling thread, workers get theirs from the heap. */
const LDFLAGS = [
  '--no-entry',
  '--import-memory',
  '--max-memory=4294967296',
  '-z',
  'stack-size=1048576',
  '--strip-debug',
  ...EXPORTS.map((e) => `--export=${e}`),
];

function inputs() {
  const own = readdirSync(wasmDir)
    .filter((f) => f.endsWith('.c') || f.endsWith('.h'))
    .map((f) => join(wasmDir, f));
  const inc = readdirSync(join(wasmDir, 'include')).map((f) => join(wasmDir, 'include', f));
  return [...PORTABLE, ...HEADERS]
    .map((f) => join(src, f))
    .concat(own, inc)
    .sort();
}

/** sha256 over the inputs' relative paths and contents, and this script (flags live here). */
function sourcesHash() {
  const h = createHash('sha256');
  for (const f of [...inputs(), fileURLToPath(import.meta.url)]) {
    h.update(relative(root, f).replaceAll('\\', '/'));
    h.update('\0');
    h.update(readFileSync(f));
  }
  return h.digest('hex');
}

function findTool(names) {
  for (const n of names) {
    const r = spawnSync(n, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return n;
  }
  return null;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    process.stderr.write(
      `${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? r.error?.message ?? ''}\n`,
    );
    process.exit(1);
  }
  if (r.stderr) process.stderr.write(r.stderr);
}

const hash = sourcesHash();
if (process.argv.includes('--check')) {
  const ok =
    existsSync(out) && existsSync(outSt) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash;
  console.log(
    ok ? 'native/wasm/minicpm-kernels.wasm is up to date' : 'native/wasm/minicpm-kernels.wasm is stale',
  );
  process.exit(ok ? 0 : 1);
}

const versions = ['', '-19', '-18', '-17', '-16', '-15', '-14'];
const clang = findTool(versions.map((v) => `clang${v}`));
const ld = findTool(versions.map((v) => `wasm-ld${v}`));
if (!clang || !ld) {
  console.error(
    'build-wasm: clang and wasm-ld are needed (Debian/Ubuntu: apt-get install clang lld). ' +
      'The committed native/wasm/minicpm-kernels.wasm is used meanwhile.',
  );
  process.exit(1);
}
/** A clang whose wasm32 target has the relaxed-SIMD dot product builtin (clang 16+). */
function relaxedClang() {
  for (const c of ['', '-19', '-18', '-17', '-16'].map((v) => `clang${v}`)) {
    const r = spawnSync(c, ['--target=wasm32', '-mrelaxed-simd', '-E', '-x', 'c', '-'], {
      input: '__has_builtin(__builtin_wasm_relaxed_dot_i8x16_i7x16_add_s_i32x4)',
      encoding: 'utf8',
    });
    if (r.status === 0 && /^\s*1\s*$/m.test(r.stdout)) return c;
  }
  return null;
}
const clangRelaxed = wantRelaxed ? relaxedClang() : null;
if (wantRelaxed && !clangRelaxed) {
  console.error(
    'build-wasm: the relaxed-SIMD module needs clang 16 or newer (Debian: apt-get install clang-16 lld-16). ' +
      'The committed modules are unaffected.',
  );
  process.exit(1);
}

const objDir = join(root, 'build', 'wasm');
mkdirSync(objDir, { recursive: true });
const t0 = Date.now();
/**
 * variant 'mt': atomics and shared memory (the Worker pool); 'st': neither (one thread, unshared memory);
 * 'relaxed': mt plus relaxed SIMD.
 */
function link(variant, file) {
  const threads = variant !== 'st';
  const cc = variant === 'relaxed' ? clangRelaxed : clang;
  const extra = [...(threads ? ['-matomics'] : []), ...(variant === 'relaxed' ? ['-mrelaxed-simd'] : [])];
  const objects = inputs()
    .filter((f) => f.endsWith('.c'))
    .map((f) => {
      const o = join(
        objDir,
        `${variant}_${relative(root, f).replaceAll(/[\\/]/g, '_').replace(/\.c$/, '.o')}`,
      );
      run(cc, [...CFLAGS, ...extra, '-c', f, '-o', o]);
      return o;
    });
  run(ld, [...LDFLAGS, ...(threads ? ['--shared-memory'] : []), ...objects, '-o', file]);
}
const kb = (f) => `${(readFileSync(f).length / 1024).toFixed(0)} KiB`;
if (wantRelaxed) {
  link('relaxed', outRelaxed); // alone: the committed modules and their stamp are left as they are
  console.log(`build-wasm: build/wasm/minicpm-kernels-relaxed.wasm (${kb(outRelaxed)})`);
  process.exit(0);
}
link('mt', out);
link('st', outSt);
writeFileSync(stamp, `${hash}\n`);
console.log(
  `build-wasm: native/wasm/minicpm-kernels.wasm (${kb(out)}) and minicpm-kernels-st.wasm (${kb(outSt)}) ` +
    `in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
