/**
 * The kernel ABI (GemmKernels here, NnKernels in wasm-nn-kernels.ts) over the wasm module. Operands whose typed arrays live in
 * the module's memory (the backend's tensor allocator puts them there) are passed in place; any other
 * array is copied into the heap for the call and, when the kernel writes it, copied back. Windows are
 * checked as the N-API addon checks them: a window that does not fit its array throws a RangeError
 * before any memory is touched.
 *
 * Precision: the same C as the native backend's portable path (f32 products and sums, no FMA in
 * standard SIMD128), with the SIMD128 GEMM tile bit-identical to the portable one; bf16 weights are
 * widened exactly. So the tolerances of kernels-native.ts hold, tighter on the bf16 side.
 */
import { KernelMemoryError } from '../kernel-errors.js';
import type { GemmKernels } from '../kernels.js';
import type { WasmRuntime } from './wasm-runtime.js';

type Arr = Float32Array | Uint16Array | Int32Array | Uint8Array | Int8Array;
/** One operand: the array, its element offset, how many elements from there the kernel may touch. */
export type Operand = [a: Arr, off: number, n: number, writes: boolean];

export type WasmIsa = 'simd128' | 'scalar';
const ISA_CODES: Record<WasmIsa, number> = { scalar: 0, simd128: 3 };

export interface WasmFeatures {
  isa: WasmIsa;
}

const MAX_GEMV_MANY = 8;

/** The span of a rows x cols window with leading dim ld, repeated batch times stride apart. */
function span(
  fn: string,
  name: string,
  ld: number,
  rows: number,
  cols: number,
  batch = 1,
  stride = 0,
): number {
  if (rows > 1 && ld < cols)
    throw new RangeError(`${fn}: ld of ${name} = ${ld} is smaller than the row length ${cols} of ${name}`);
  if (rows === 0 || cols === 0 || batch === 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

export function intArgs(fn: string, values: Record<string, number>): void {
  // for-in, not Object.entries: this runs on every kernel call (a decode step makes dozens)
  for (const k in values) {
    const v = values[k];
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`${fn}: ${k} must be a non-negative integer, got ${v}`);
  }
}

/** The GEMM family, set-up and the operand marshalling the NN kernels share. */
export class WasmGemmKernels implements GemmKernels {
  /** 256 bytes of module memory for small out-parameters (tables, sums). */
  protected readonly scratch: number;
  private scratchView: Int32Array<ArrayBufferLike> = new Int32Array(0);

  /** The module's failure record (native/src/kernel-alloc.c); null for a module built before it. */
  private takeFailure: ((kernel: number) => number) | null | undefined;

  constructor(readonly rt: WasmRuntime) {
    this.scratch = rt.alloc(256);
  }

  /** Throws KernelMemoryError when the kernel fn just ran out of wasm memory (it stopped early). */
  private allocCheck(fn: string): void {
    if (this.takeFailure === undefined) {
      try {
        this.takeFailure = this.rt.fn('mc_take_alloc_failure');
      } catch {
        this.takeFailure = null;
      }
    }
    const bytes = this.takeFailure ? this.takeFailure(0) >>> 0 : 0;
    if (bytes)
      throw new KernelMemoryError(
        `wasm kernel ${fn} ran out of memory: could not allocate ${bytes} bytes. Use a shorter context or smaller batch and retry`,
        fn,
        bytes,
      );
  }

  features(): WasmFeatures {
    return { isa: this.rt.fn('mc_wasm_isa')() === ISA_CODES.scalar ? 'scalar' : 'simd128' };
  }

  /** Lowers (or restores) the code path, for tests and benchmarks. */
  setIsa(isa: WasmIsa): boolean {
    return this.rt.fn('mc_set_isa')(ISA_CODES[isa]) === 1;
  }

  setThreads(n: number): void {
    this.rt.setThreads(n);
  }

  getThreads(): number {
    return this.rt.getThreads();
  }

  /**
   * 64 i32 over the scratch block, kept between calls: a shared memory's old views stay valid when it
   * grows; an unshared one's are detached (length 0), and then the view is made again.
   */
  protected scratchI32(): Int32Array {
    if (this.scratchView.length === 0) this.scratchView = new Int32Array(this.rt.buffer(), this.scratch, 64);
    return this.scratchView;
  }

  /** Runs body with the operands' addresses; copies foreign operands in, and back when written. */
  protected call<R>(fn: string, ops: Operand[], body: (p: number[]) => R): R {
    // the common case (every operand already in wasm memory) allocates nothing but the address list
    const ptrs: number[] = new Array<number>(ops.length);
    let foreign = false;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const a = op[0],
        off = op[1],
        n = op[2];
      if (!Number.isInteger(off) || off < 0 || off + n > a.length)
        throw new RangeError(
          `${fn}: operand ${i} needs elements [${off}, ${off + n}) but its array has ${a.length}`,
        );
      if (n === 0 || this.rt.owns(a)) ptrs[i] = a.byteOffset + off * a.BYTES_PER_ELEMENT;
      else {
        ptrs[i] = -1;
        foreign = true;
      }
    }
    if (!foreign) {
      const r = body(ptrs);
      this.allocCheck(fn);
      return r;
    }
    const staged: { a: Arr; off: number; n: number; p: number; writes: boolean }[] = [];
    try {
      for (let i = 0; i < ptrs.length; i++) {
        if (ptrs[i] !== -1) continue;
        const [a, off, n, writes] = ops[i];
        const s = { a, off, n, writes, p: -1 };
        staged.push(s);
        const bytes = n * a.BYTES_PER_ELEMENT;
        s.p = ptrs[i] = this.rt.alloc(bytes);
        new Uint8Array(this.rt.buffer(), s.p, bytes).set(
          new Uint8Array(a.buffer, a.byteOffset + off * a.BYTES_PER_ELEMENT, bytes),
        );
      }
      const r = body(ptrs);
      this.allocCheck(fn);
      for (const s of staged)
        if (s.writes) {
          const bytes = s.n * s.a.BYTES_PER_ELEMENT;
          new Uint8Array(s.a.buffer, s.a.byteOffset + s.off * s.a.BYTES_PER_ELEMENT, bytes).set(
            new Uint8Array(this.rt.buffer(), s.p, bytes),
          );
        }
      return r;
    } finally {
      for (const s of staged) if (s.p > 0) this.rt.free(s.p);
    }
  }

  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    B: Float32Array,
    bOff: number,
    ldb: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
  ): void {
    this.sgemmBatched(
      1,
      transA,
      transB,
      M,
      N,
      K,
      alpha,
      A,
      aOff,
      lda,
      0,
      B,
      bOff,
      ldb,
      0,
      beta,
      C,
      cOff,
      ldc,
      0,
    );
  }

  sgemmBatched(
    batch: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    strideA: number,
    B: Float32Array,
    bOff: number,
    ldb: number,
    strideB: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
    strideC: number,
  ): void {
    const fn = batch === 1 ? 'sgemm' : 'sgemmBatched';
    intArgs(fn, { batch, M, N, K, lda, ldb, ldc, strideA, strideB, strideC });
    const mn = M && N ? batch : 0;
    const ops: Operand[] = [
      [A, aOff, span(fn, 'A', lda, transA ? K : M, transA ? M : K, mn, strideA), false],
      [B, bOff, span(fn, 'B', ldb, transB ? N : K, transB ? K : N, mn, strideB), false],
      [C, cOff, span(fn, 'C', ldc, M, N, batch, strideC), true],
    ];
    this.call(fn, ops, ([a, b, c]) => {
      if (batch === 1) this.rt.fn('mc_sgemm')(+transA, +transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
      else
        this.rt.fn('mc_sgemm_batched')(
          batch,
          +transA,
          +transB,
          M,
          N,
          K,
          alpha,
          a,
          lda,
          strideA,
          b,
          ldb,
          strideB,
          beta,
          c,
          ldc,
          strideC,
        );
    });
  }

  gemmBf16(
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    aOff: number,
    lda: number,
    W: Uint16Array,
    wOff: number,
    ldw: number,
    beta: number,
    C: Float32Array,
    cOff: number,
    ldc: number,
  ): void {
    intArgs('gemmBf16', { M, N, K, lda, ldw, ldc });
    const mn = M && N ? 1 : 0;
    const ops: Operand[] = [
      [A, aOff, span('gemmBf16', 'A', lda, M, K, mn), false],
      [W, wOff, span('gemmBf16', 'W', ldw, N, K, mn), false],
      [C, cOff, span('gemmBf16', 'C', ldc, M, N), true],
    ];
    this.call('gemmBf16', ops, ([a, w, c]) =>
      this.rt.fn('mc_gemm_bf16')(M, N, K, alpha, a, lda, w, ldw, beta, c, ldc),
    );
  }

  /**
   * Row-exact multi-row GEMV (native/wasm/gemv-rows-simd128.c): every row of Y bitwise what sgemm /
   * gemmBf16 with M = 1 gives it here, each row of W loaded once for 2 rows of X at a time.
   */
  gemvRows(
    M: number,
    N: number,
    K: number,
    X: Float32Array,
    xOff: number,
    ldx: number,
    W: Float32Array | Uint16Array,
    wOff: number,
    ldw: number,
    Y: Float32Array,
    yOff: number,
    ldy: number,
  ): void {
    intArgs('gemvRows', { M, N, K, xOff, ldx, wOff, ldw, yOff, ldy });
    if (!(X instanceof Float32Array) || !(Y instanceof Float32Array))
      throw new TypeError('gemvRows: X and Y must be Float32Array');
    if (!(W instanceof Float32Array) && !(W instanceof Uint16Array))
      throw new TypeError('gemvRows: W must be a Float32Array or a Uint16Array (bf16 bits)');
    const mn = M && N ? 1 : 0;
    const ops: Operand[] = [
      [X, xOff, span('gemvRows', 'X', ldx, mn ? M : 0, K), false],
      [W, wOff, span('gemvRows', 'W', ldw, mn ? N : 0, K), false],
      [Y, yOff, span('gemvRows', 'Y', ldy, M, N), true],
    ];
    this.call('gemvRows', ops, ([x, w, y]) =>
      this.rt.fn('mc_gemv_rows')(M, N, K, x, ldx, w, W instanceof Uint16Array ? 2 : 4, ldw, y, ldy),
    );
  }

  gemvMany(
    x: Float32Array,
    xOff: number,
    K: number,
    ws: readonly (Float32Array | Uint16Array)[],
    wOffs: readonly number[],
    ns: readonly number[],
    y: Float32Array,
    yOff: number,
  ): void {
    const count = ws.length;
    if (count < 1 || count > MAX_GEMV_MANY || wOffs.length !== count || ns.length !== count)
      throw new RangeError(`gemvMany: 1 to ${MAX_GEMV_MANY} weights with one offset and row count each`);
    const bf16 = ws[0] instanceof Uint16Array;
    if (ws.some((w) => w instanceof Uint16Array !== bf16))
      throw new TypeError('gemvMany: ws must all be Float32Array or all Uint16Array');
    intArgs('gemvMany', { K, ...Object.fromEntries(ns.map((n, i) => [`ns[${i}]`, n])) });
    const total = ns.reduce((s, n) => s + n, 0);
    const ops: Operand[] = [
      [x, xOff, total ? K : 0, false],
      [y, yOff, total, true],
      ...ws.map((w, i): Operand => [w, wOffs[i], K ? ns[i] * K : 0, false]),
    ];
    this.call('gemvMany', ops, ([xp, yp, ...wp]) => {
      const table = this.scratchI32();
      for (let i = 0; i < count; i++) {
        table[i] = wp[i];
        table[MAX_GEMV_MANY + i] = ns[i];
      }
      this.rt.fn('mc_gemv_many')(
        count,
        K,
        xp,
        this.scratch,
        this.scratch + 4 * MAX_GEMV_MANY,
        bf16 ? 2 : 4,
        yp,
      );
    });
  }
}
