/** Choosing and installing the tensor backend. */
import { setAllocator, setBackend, type Backend } from '../tensor/index.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { genericGemmKernels as refGemmKernels } from './cpu/matmul.js';
const loadNativeKernels = (): null => null;

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
    native = k ? new CpuBackend(`cpu-native (${k.features().isa})`, k) : null;
    if (k) setAllocator((bytes) => k.alignedBuffer(bytes));
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
      throw new Error('the native backend is not built: run `npm run build-native` (needs python3, make and g++)');
    }
  }
  const chosen = b ?? refBackend();
  setBackend(chosen);
  return chosen;
}
