/**
 * The body of a kernel worker, as source text so one file serves Node's worker_threads (eval) and
 * browsers' Web Workers (a Blob URL) without a bundler entry of its own. A worker instantiates the
 * shared module over the shared memory, moves its stack pointer to the stack the main instance gave
 * it, and enters the pool loop (mc_wasm_worker), which returns only when the pool stops.
 */
const BODY = `
function runKernelWorker(d) {
  const inst = new WebAssembly.Instance(d.module, { env: { memory: d.memory } });
  inst.exports.__stack_pointer.value = d.stackHi;
  inst.exports.mc_wasm_worker(d.tid, d.stackLo, d.stackHi);
}`;

/** worker_threads (eval: true): the init message arrives as workerData. */
export const NODE_WORKER_SOURCE = `${BODY}
runKernelWorker(require('node:worker_threads').workerData);`;

/** Web Worker: the init message arrives by postMessage; the worker closes when the pool stops. */
export const BROWSER_WORKER_SOURCE = `${BODY}
self.onmessage = (e) => { runKernelWorker(e.data); self.close(); };`;
