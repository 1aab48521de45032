/** minicpm: the MiniCPM system in TypeScript. Importing the package installs the best CPU backend. */
import { useBackend } from './backends/index.js';

export * from './tensor/index.js';
export { useBackend, refBackend, nativeBackend, type BackendChoice } from './backends/index.js';

useBackend('auto');
