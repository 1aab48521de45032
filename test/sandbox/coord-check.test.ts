/** The μP coordinate check: activations stay put across widths with μP and grow without it. */
import { describe, expect, it } from 'vitest';
import { nativeBackend } from '../../src/backends/index.js';
import { coordCheck, growth } from '../../src/sandbox/coord-check.js';
import { setBackend } from '../../src/tensor/index.js';

const native = nativeBackend();

describe.skipIf(!native)(
  'coord-check (native backend; the reference one is too slow for this width range)',
  () => {
    it('μP keeps layer outputs within 1.5× from width 128 to 512; SP grows them more than 2×', async () => {
      setBackend(native!);
      const o = {
        widths: [128, 512],
        layers: 1,
        steps: 6,
        lr: 0.01,
        seqLen: 32,
        batch: 2,
        vocab: 256,
        seed: 0,
      };
      const points = await coordCheck(o);
      const mup = growth(points, 'mup', o.steps - 1).get('layer 0')!;
      const sp = growth(points, 'sp', o.steps - 1).get('layer 0')!;
      expect(mup).toBeGreaterThan(1 / 1.5);
      expect(mup).toBeLessThan(1.5);
      expect(sp).toBeGreaterThan(2);
    });
  },
);
