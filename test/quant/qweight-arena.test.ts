// Mid-sized quantized matrices share the weight arena's chunks (huge pages): each gets zeroed memory of
// its own at a multiple of 64 bytes into the chunk, no two overlap, and the wasm heap keeps one buffer each.
import { afterAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { allocQWeight, type QWeight } from '../../src/quant/qweight.js';
import { allocatesFromHeap } from '../../src/tensor/index.js';

useBackend('auto');

const parts = (w: QWeight) => [w.codes, w.scales, w.zeros] as const;

describe('quantized weight memory', () => {
  // W4 512 x 2304: 590 KB of codes and 74 KB of scales (arena), 37 KB of zeros (a buffer of its own)
  const ws = [0, 1, 2, 3].map(() => allocQWeight(4, 512, 2304, null));
  afterAll(() => ws.splice(0));

  it('puts mid-sized parts of several matrices in one shared buffer, apart from small ones', () => {
    if (allocatesFromHeap()) return expect(new Set(ws.map((w) => w.codes.buffer)).size).toBe(ws.length);
    expect(new Set(ws.map((w) => w.codes.buffer)).size).toBe(1);
    expect(ws[0].scales.buffer).toBe(ws[0].codes.buffer);
    expect(ws[0].zeros.buffer).not.toBe(ws[0].codes.buffer);
  });

  it('hands out zeroed, aligned, disjoint ranges', () => {
    const ranges: [number, number, ArrayBufferLike][] = [];
    for (const w of ws)
      for (const a of parts(w)) {
        expect(a.every((v) => v === 0)).toBe(true);
        ranges.push([a.byteOffset, a.byteOffset + a.byteLength, a.buffer]);
      }
    // 64-byte aligned: the buffer's first view starts on a 64-byte address, the others at multiples of 64 after it
    for (const [at, , buffer] of ranges) {
      const first = Math.min(...ranges.filter((r) => r[2] === buffer).map((r) => r[0]));
      expect((at - first) % 64).toBe(0);
    }
    for (let i = 0; i < ranges.length; i++)
      for (let j = i + 1; j < ranges.length; j++) {
        const [a0, a1, ab] = ranges[i];
        const [b0, b1, bb] = ranges[j];
        if (ab === bb) expect(a1 <= b0 || b1 <= a0).toBe(true);
      }
  });

  it('writes to one matrix leave the others untouched', () => {
    ws[1].codes.fill(0xa5);
    ws[1].scales.fill(0x3c00);
    for (const w of [ws[0], ws[2], ws[3]])
      for (const a of parts(w)) expect(a.every((v) => v === 0)).toBe(true);
  });
});
