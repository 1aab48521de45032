/**
 * MiniCPM-V 1.0 against the float64 reference of ../shared/fixtures/minicpmv/tiny: every stage for both
 * images (an upsampled 45×67 and a downsampled 150×200), on every backend, f32 and bf16 weights.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rgbImage } from '../../src/image/index.js';
import { typedView } from '../../src/io/dtypes.js';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { minicpmvConfigFromHF } from '../../src/models/minicpmv-config.js';
import { loadMiniCPMVFromReader } from '../../src/models/minicpmv-load.js';
import type { MiniCPMV } from '../../src/models/minicpmv.js';
import { noGrad, Tensor } from '../../src/tensor/index.js';
import { backendCases, install } from '../helpers/backends.js';

const DIR = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpmv/tiny');
const have = fs.existsSync(DIR);
if (!have) console.warn(`skipping MiniCPM-V fixture tests: ${DIR} is absent`);

function load(weightDtype: 'f32' | 'bf16'): MiniCPMV {
  const config = minicpmvConfigFromHF(
    JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8')) as Record<string, unknown>,
  );
  return loadMiniCPMVFromReader(config, openSafetensorsSync(path.join(DIR, 'model.safetensors')), {
    weightDtype,
  });
}

/** max |got − want| / max |want|. */
function relErr(got: Tensor, want: Float64Array): number {
  const g = got.toArray();
  expect(g.length).toBe(want.length);
  let m = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    m = Math.max(m, Math.abs(g[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return m / scale;
}

const TOL = 1e-5;
/** The native bf16 GEMM rounds activations to bf16 inside vdpbf16ps (as for the language model). */
const BF16_NATIVE_TOL = 2e-2;

for (const { name: backendName, backend } of backendCases()) {
  for (const weightDtype of ['f32', 'bf16'] as const) {
    describe.skipIf(!have || !backend)(
      `MiniCPM-V tiny fixture (${backendName}, ${weightDtype} weights)`,
      () => {
        const fx = have ? openSafetensorsSync(path.join(DIR, 'fixture.safetensors')) : null;
        const f64 = (name: string) => typedView(fx!.readSync(name)) as Float64Array;
        const tol = backendName === 'native' && weightDtype === 'bf16' ? BF16_NATIVE_TOL : TOL;
        for (const which of ['up', 'down']) {
          it(`${which}: every stage within ${tol} of its largest magnitude`, () => {
            install(backend);
            const model = load(weightDtype);
            noGrad(() => {
              const src = fx!.readSync(`${which}.image_u8`);
              const [h, w] = src.shape;
              const pixels = model.pixelValues(rgbImage(w, h, new Uint8Array(src.data)));
              expect(relErr(pixels, f64(`${which}.pixel_values`))).toBeLessThan(1e-7);
              const S = model.config.imageSize;
              const grid = model.vision.grid(S, S);
              expect(
                relErr(model.vision.positions(grid), f64(`${which}.vpm_pos_embed_resampled`)),
              ).toBeLessThan(tol);
              const features = model.vision.forward(pixels);
              expect(relErr(features, f64(`${which}.vision_features`))).toBeLessThan(tol);
              expect(
                relErr(model.resampler.keyPositions(grid), f64(`${which}.resampler_pos_k`)),
              ).toBeLessThan(tol);
              const tokens = model.resampler.forward(features, grid);
              expect(relErr(tokens, f64(`${which}.resampler_out`))).toBeLessThan(tol);
              const ids64 = typedView(fx!.readSync(`${which}.input_ids`)) as BigInt64Array;
              const ids = Tensor.from(Int32Array.from(ids64, Number), [1, ids64.length], 'i32');
              const embeds = model.llm.withImages([[tokens]]).embed(ids);
              expect(relErr(embeds, f64(`${which}.inputs_embeds`))).toBeLessThan(tol);
              const logits = model.forward(ids, [[tokens]]);
              expect(relErr(logits, f64(`${which}.logits`))).toBeLessThan(tol);
            });
          });
        }
      },
    );
  }
}
