/** Choosing and installing the tensor backend. */
import { setAllocator, setBackend, type Backend } from '../tensor/index.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { loadNativeKernels } from './kernels-native.js';
import { refGemmKernels } from './kernels-ref-gemm.js';
import type { NnKernels } from './kernels.js';

export type BackendChoice = 'auto' | 'native' | 'ref';

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

/** Installs a backend: 'auto' (default) takes native when built, else the reference one. */
export function useBackend(choice: BackendChoice = 'auto'): Backend {
  const env = process.env.MINICPM_BACKEND;
  const want = choice === 'auto' && (env === 'ref' || env === 'native') ? env : choice;
  let b: Backend | null;
  if (want === 'ref') b = refBackend();
  else {
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
