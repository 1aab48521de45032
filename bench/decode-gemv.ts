/** `npm run bench -- decode-gemv`: the decode GEMVs' GB/s against the DRAM probe (bench/infer/decode-gemv.ts). */
export { default } from './infer/decode-gemv.js';
