// GGUF files as runnable models for the commands (generate, serve, eval, logits, perplexity).
// Tensors of a type without an in-memory quantized form here are dequantized on load, and the loader
// says so in one line on stderr: nothing falls silently onto the floating-point path.

import { loadGgufModelDense } from '../models/gguf-load.js';
import type { MiniCPM } from '../models/minicpm.js';
import type { LoadOptions } from '../models/weights.js';

/** Loads a MiniCPM GGUF; `note` receives the line that reports dequantized tensors (default: stderr). */
export function loadGgufModel(
  path: string,
  opts: LoadOptions = {},
  note: (line: string) => void = (l) => void process.stderr.write(`${l}\n`),
): Promise<MiniCPM> {
  const r = loadGgufModelDense(path, opts);
  if (r.dequantized.length) {
    const types = Object.entries(r.types)
      .filter(([t]) => !['F32', 'F16', 'BF16'].includes(t))
      .map(([t, n]) => `${n} ${t}`)
      .join(', ');
    note(
      `${path}: ${r.dequantized.length} quantized tensors (${types}) run through dequantization to ${opts.weightDtype ?? 'f32'}`,
    );
  }
  return Promise.resolve(r.model);
}
