/**
 * The slice of the WebAssembly JS API the wasm backend uses, typed here because the project compiles
 * without the DOM library (Node's types do not declare WebAssembly). Reached through globalThis,
 * which has it in Node 20 and every browser.
 */
export interface WasmGlobal {
  value: number;
}

export interface WasmMemory {
  /** Shared memory: a SharedArrayBuffer; unshared: an ArrayBuffer (detached by grow, which we never do). */
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}

export interface WasmModuleObject {
  readonly __wasmModule?: never;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModuleObject;
  Instance: new (module: WasmModuleObject, imports: object) => WasmInstance;
  Memory: new (desc: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  compile(bytes: Uint8Array): Promise<WasmModuleObject>;
  validate(bytes: Uint8Array): boolean;
}

export const wasmApi = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Bad input to, or failure of, the wasm runtime (its message says what to do). */
export class WasmBackendError extends Error {
  override name = 'WasmBackendError';
}
