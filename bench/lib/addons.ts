/**
 * What the A/B tuning benches (decode-gemv-ab, prefill-gemm-ab) share: their `--name value` arguments and
 * the addon builds they interleave, each loaded from its own .node file (`--addons a=PATH,b=PATH`).
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { NativeKernels } from '../../src/backends/kernels-native.js';
import type { QuantKernels } from '../../src/backends/kernels-quant.js';

/** One addon build under its name. */
export type Addon = { name: string; k: NativeKernels & QuantKernels };

/** The value after `--name`, or `fallback`. */
export function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

/** The builds of `name=path[,name=path]`, each required from its file; each must carry qmatmul. */
export function loadAddons(spec: string): Addon[] {
  const require = createRequire(import.meta.url);
  return spec.split(',').map((s) => {
    const [name, path] = s.split('=');
    if (!name || !path) throw new Error(`--addons wants name=path[,name=path], got "${s}"`);
    const k = require(resolve(path)) as NativeKernels & QuantKernels;
    if (typeof k.qmatmul !== 'function') throw new Error(`addon ${name} has no qmatmul`);
    return { name, k };
  });
}
