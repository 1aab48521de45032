/** Choosing and installing the tensor backend. */
import { setAllocator, setBackend, type Backend } from '../tensor/index.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { loadNativeKernels } from './kernels-native.js';
import { setQuantKernels } from './quant.js';
import { refGemmKernels } from './kernels-ref-gemm.js';
import type { NnKernels } from './kernels.js';
import { installWasmAllocator, makeWasmBackend } from './wasm/wasm-backend.js';
import type { WasmKernels } from './wasm/wasm-kernels.js';
import { createNodeWasmKernels } from './wasm/wasm-node.js';

export type BackendChoice = 'auto' | 'native' | 'ref' | 'wasm';

let ref: CpuBackend | null = null;
let native: CpuBackend | null | undefined;

/** The pure TypeScript backend: the executable specification every fast kernel is tested against. */
export function refBackend(): Backend {
  return (ref ??= new CpuBackend('cpu-ref', refGemmKernels, false));
}

/** The backend over the C kernel library, or null when the addon is not built (a warning was printed). */
export function nativeBackend(): Backend | null {
  if (native === undefined) {
    const k = loadNativeKernels();
    native = k ? new CpuBackend(`cpu-native (${k.features().isa})`, k, true, nnKernelsOf(k)) : null;
    // 64-byte aligned views into ordinary ArrayBuffers: V8 releases those during garbage collection,
    // while external (addon-allocated) memory waits for a finalizer on a later event-loop turn, which a
    // long synchronous loop (training steps, evaluation items) never yields to — it piled up to the OOM
    if (k)
      setAllocator((bytes) => {
        const buffer = new ArrayBuffer(bytes + 64);
        return { buffer, byteOffset: k.alignOffset(buffer) };
      });
  }
  return native;
}

let wasm: { kernels: WasmKernels; backend: Backend } | undefined;

/**
 * The C kernels compiled to WebAssembly (SIMD128 + threads), as browsers run them; created on first
 * use. Operands outside its memory are copied in per call until useBackend('wasm') installs its
 * tensor allocator.
 */
export function wasmBackend(): Backend {
  if (!wasm) {
    const kernels = createNodeWasmKernels();
    wasm = { kernels, backend: makeWasmBackend(kernels) };
  }
  return wasm.backend;
}

/** The wasm backend's kernels (thread count, code path), for tests and benchmarks. */
export function wasmKernels(): WasmKernels {
  wasmBackend();
  return wasm!.kernels;
}

/** Installs a backend: 'auto' (default) takes native when built, else the reference one. */
export function useBackend(choice: BackendChoice = 'auto'): Backend {
  const env = process.env.MINICPM_BACKEND;
  const want = choice === 'auto' && (env === 'ref' || env === 'native' || env === 'wasm') ? env : choice;
  let b: Backend | null;
  setQuantKernels(null); // the wasm backend installs its own below
  if (want === 'ref') b = refBackend();
  else if (want === 'wasm') {
    b = wasmBackend();
    installWasmAllocator(wasm!.kernels); // tensors live in wasm memory: no copies per kernel call
    setQuantKernels(wasm!.kernels);
  } else {
    b = nativeBackend();
    if (!b && want === 'native') {
      throw new Error(
        'the native backend is not built: run `npm run build-native` (needs python3, make and g++)',
      );
    }
  }
  const chosen = b ?? refBackend();
  setBackend(chosen);
  return chosen;
}

/** The addon's NN kernels, when this build has them (an older build may carry only the GEMM family). */
function nnKernelsOf(addon: object): NnKernels | undefined {
  return typeof (addon as Partial<NnKernels>).rmsnormFwd === 'function' ? (addon as NnKernels) : undefined;
}
