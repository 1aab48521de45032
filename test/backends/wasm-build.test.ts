/**
 * The committed kernel module is what scripts/build-wasm.mjs makes from the current sources (a stale
 * module would silently run old kernels in browsers), and it has the shape the runtime relies on: one
 * imported shared memory, no other imports (no JavaScript glue), the ABI exported.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findWasmModule, WASM_ST_MODULE_PATH } from '../../src/backends/wasm/wasm-node.js';

interface ModuleApi {
  Module: {
    new (b: Uint8Array): object;
    imports(m: object): { module: string; name: string; kind: string }[];
    exports(m: object): { name: string }[];
  };
}
const WA = (globalThis as unknown as { WebAssembly: ModuleApi }).WebAssembly;

describe('the wasm kernel module', () => {
  it('is up to date with native/src and native/wasm (else: npm run build-wasm)', () => {
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('native/wasm/minicpm-kernels.wasm is up to date');
    expect(r.status).toBe(0);
  });

  it('imports only a shared memory and exports the kernel ABI', () => {
    const bytes = readFileSync(findWasmModule()!);
    const m = new WA.Module(bytes);
    expect(WA.Module.imports(m)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const names = WA.Module.exports(m).map((e) => e.name);
    for (const n of [
      'mc_sgemm',
      'mc_gemm_bf16',
      'mc_gemv_many',
      'mc_attention_fwd',
      'mc_wasm_worker',
      '__stack_pointer',
    ])
      expect(names).toContain(n);
    // the memory import's limits: flags 3 = shared with a maximum, 65536 pages = 4 GiB
    const at = bytes.indexOf(Buffer.from('memory')) + 'memory'.length;
    expect(bytes[at]).toBe(2); // import kind: memory
    expect(bytes[at + 1]).toBe(3);
  });

  it('has a single-threaded twin over unshared memory (no atomics) for pages without isolation', () => {
    const bytes = readFileSync(findWasmModule(WASM_ST_MODULE_PATH)!);
    const m = new WA.Module(bytes);
    expect(WA.Module.imports(m)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const at = bytes.indexOf(Buffer.from('memory')) + 'memory'.length;
    expect(bytes[at + 1]).toBe(1); // a maximum, not shared
    expect(WA.Module.exports(m).map((e) => e.name)).toContain('mc_gemm_bf16');
  });
});
