/** The backends every engine test runs on; the native one is skipped visibly when not built. */
import { nativeBackend, refBackend } from '../../src/backends/index.js';
import { setBackend, type Backend } from '../../src/tensor/index.js';

export interface BackendCase {
  name: string;
  backend: Backend | null;
}

export function backendCases(): BackendCase[] {
  return [
    { name: 'ref', backend: refBackend() },
    { name: 'native', backend: nativeBackend() },
  ];
}

export function install(b: Backend | null): void {
  if (b) setBackend(b);
}
