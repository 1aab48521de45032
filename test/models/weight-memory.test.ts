/**
 * Weights live in memory from the engine's allocator (64-byte aligned, huge pages under the native
 * backend), whether initialised or loaded: decode streams every weight once a token, and a plain
 * file-read buffer (16-byte aligned, 4 KiB pages) made that ~10% slower.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { configFromHF } from '../../src/models/config.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { pool, Rng, setAllocator, type Allocator } from '../../src/tensor/index.js';
import { haveFixtures, loadFixture } from '../helpers/fixtures.js';

let restore: Allocator | undefined;
/** Installs an allocator that remembers every buffer it hands out. */
function tracking(): WeakSet<ArrayBufferLike> {
  const made = new WeakSet<ArrayBufferLike>();
  pool.clear(); // a pooled buffer came from the previous allocator
  restore = setAllocator((bytes) => {
    const buffer = new ArrayBuffer(bytes);
    made.add(buffer);
    return { buffer, byteOffset: 0 };
  });
  return made;
}
afterEach(() => {
  if (restore) setAllocator(restore);
  restore = undefined;
});

function outsiders(model: MiniCPM, made: WeakSet<ArrayBufferLike>): string[] {
  return [...model.params].filter(([, t]) => !made.has(t.data.buffer)).map(([n]) => n);
}

describe('weight memory', () => {
  it('MiniCPM.init allocates every parameter through the allocator', () => {
    const config = configFromHF({
      model_type: 'minicpm',
      vocab_size: 64,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
    });
    const made = tracking();
    expect(outsiders(MiniCPM.init(config, new Rng(3)), made)).toEqual([]);
  });

  it.skipIf(!haveFixtures)(
    'loading f32 and bf16 checkpoints reads every tensor into allocator memory',
    () => {
      for (const [file, weightDtype] of [
        ['model.safetensors', 'f32'],
        ['model.safetensors', 'bf16'],
        ['model.bf16.safetensors', 'f32'],
        ['model.bf16.safetensors', 'bf16'],
      ] as const) {
        const made = tracking();
        const { model } = loadFixture('tiny-gqa', file, { weightDtype });
        expect(outsiders(model, made), `${file} as ${weightDtype}`).toEqual([]);
        setAllocator(restore!);
      }
    },
  );
});
