import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromFloat32, toFloat32, type TensorRecord } from '../../src/io/dtypes.js';
import { CheckpointFormatError, GgufKeyError } from '../../src/io/errors.js';
import { gv, openGguf, openGgufSync, writeGguf, type GgufValue } from '../../src/io/gguf.js';
import { hasShared, leftovers, sharedFixtures, tempDir } from './helpers.js';

const dir = tempDir('gguf');
let counter = 0;
const tmp = () => path.join(dir, `${counter++}.gguf`);

const METADATA: [string, GgufValue][] = [
  ['general.architecture', gv.string('test')],
  ['u8', gv.uint8(255)],
  ['i8', gv.int8(-128)],
  ['u16', gv.uint16(65535)],
  ['i16', gv.int16(-32768)],
  ['u32', gv.uint32(4294967295)],
  ['i32', gv.int32(-2147483648)],
  ['f32', gv.float32(1.5)],
  ['f64', gv.float64(Math.PI)],
  ['u64', gv.uint64(2n ** 64n - 1n)],
  ['i64', gv.int64(-(2n ** 63n))],
  ['small64', gv.uint64(7)],
  ['yes', gv.bool(true)],
  ['no', gv.bool(false)],
  ['text', gv.string('héllo ▁wörld 🙂')],
  ['empty', gv.string('')],
  ['tokens', gv.array('string', ['<unk>', '<s>', '</s>', '▁the', ''])],
  ['scores', gv.array('float32', [0, -1.5, 2.25])],
  ['types', gv.array('int32', [2, 3, 3, 1])],
  ['bytes', gv.array('uint8', [0, 255])],
  ['bigs', gv.array('int64', [-1n, 2n ** 62n])],
  ['flags', gv.array('bool', [true, false])],
  ['nested', gv.array('array', [gv.array('uint16', [1, 2]), gv.array('string', ['x'])])],
  ['none', gv.array('float64', [])],
];

function f32(name: string, shape: number[], seed = 0): TensorRecord {
  const n = shape.reduce((a, b) => a * b, 1);
  return fromFloat32(
    name,
    shape,
    Float32Array.from({ length: n }, (_, i) => Math.sin(i + seed) * 3),
    'F32',
  );
}

describe('GGUF round trip', () => {
  it('writes and reads every metadata type and F32/F16/BF16 tensors plus raw Q8_0/Q4_0 blocks', async () => {
    const q8 = Uint8Array.from({ length: 2 * 34 * 3 }, (_, i) => (i * 7) & 0xff); // [3, 64] in Q8_0: 2 blocks per row
    const q4 = Uint8Array.from({ length: 18 * 2 }, (_, i) => (i * 13) & 0xff); // [2, 32] in Q4_0
    const tensors = [
      f32('token_embd.weight', [5, 8]),
      fromFloat32('blk.0.attn_q.weight', [8, 8], toFloat32(f32('', [8, 8], 1)), 'F16'),
      fromFloat32('blk.0.ffn_up.weight', [4, 8], toFloat32(f32('', [4, 8], 2)), 'BF16'),
      f32('output_norm.weight', [8]),
      { name: 'blk.0.ffn_down.weight', shape: [3, 64], ggmlType: 'Q8_0', data: q8 },
      { name: 'blk.0.ffn_gate.weight', shape: [2, 32], ggmlType: 2, load: () => q4 },
      {
        name: 'idx',
        dtype: 'I32' as const,
        shape: [3],
        load: () => new Uint8Array(new Int32Array([1, -2, 3]).buffer),
      },
    ];
    const p = tmp();
    await writeGguf(p, METADATA, tensors);
    const g = await openGguf(p);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect([...g.metadata.keys()]).toEqual(METADATA.map(([k]) => k));
    for (const [k, v] of METADATA) expect(g.get(k), k).toEqual(v);
    expect(g.getNumber('small64')).toBe(7);
    expect(g.getStringArray('tokens')).toEqual(['<unk>', '<s>', '</s>', '▁the', '']);
    expect(g.getArray('scores')).toEqual(new Float32Array([0, -1.5, 2.25]));
    expect(g.getBool('yes')).toBe(true);

    expect(g.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
    const emb = g.tensor('token_embd.weight');
    expect(emb).toMatchObject({
      dims: [8, 5],
      shape: [5, 8],
      ggmlType: 0,
      typeName: 'F32',
      dtype: 'F32',
      byteSize: 160,
    });
    for (const t of g.tensors) expect(t.offset % 32, t.name).toBe(0);
    for (const t of tensors.slice(0, 3)) expect(await g.readTensor(t.name)).toEqual(t);
    expect(g.readTensorSync('output_norm.weight')).toEqual(tensors[3]);
    expect(Array.from(new Int32Array((await g.readTensor('idx')).data.buffer))).toEqual([1, -2, 3]);

    const q = g.tensor('blk.0.ffn_down.weight');
    expect(q).toMatchObject({
      dims: [64, 3],
      shape: [3, 64],
      ggmlType: 8,
      typeName: 'Q8_0',
      blockSize: 32,
      typeSize: 34,
      byteSize: q8.length,
    });
    expect(q.dtype).toBeUndefined();
    expect(await g.readRaw(q.name)).toEqual(q8);
    expect(g.readRawSync('blk.0.ffn_gate.weight')).toEqual(q4);
    expect(g.tensor('blk.0.ffn_gate.weight').typeName).toBe('Q4_0');
    await expect(g.readTensor(q.name)).rejects.toThrow(/quantized \(Q8_0.*use readRaw/);
    await g.close();
    expect(leftovers(dir)).toEqual([]);
  });

  it('honours a custom alignment', async () => {
    const p = tmp();
    await writeGguf(p, [['general.architecture', gv.string('x')]], [f32('a', [3]), f32('b', [5])], {
      alignment: 64,
    });
    const g = openGgufSync(p);
    expect(g.alignment).toBe(64);
    expect(g.getNumber('general.alignment')).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensor('b').offset - g.tensor('a').offset).toBe(64);
    expect(await g.readTensor('b')).toEqual(f32('b', [5]));
    await g.close();
  });

  it('accepts metadata as a Map or a plain object', async () => {
    const p = tmp();
    await writeGguf(p, { 'a.b': gv.uint32(1), c: gv.string('d') }, []);
    const g = await openGguf(p);
    expect(g.getNumber('a.b')).toBe(1);
    expect(g.tensors).toEqual([]);
    await g.close();
  });

  it('rejects invalid input before writing', async () => {
    const p = tmp();
    await expect(writeGguf(p, [['k', gv.uint8(256)]], [])).rejects.toThrow(/not a valid uint8/);
    await expect(writeGguf(p, [['k', gv.int32(1.5)]], [])).rejects.toThrow(/not a valid int32/);
    await expect(writeGguf(p, [['k', gv.uint64(-1)]], [])).rejects.toThrow(/not a valid uint64/);
    await expect(
      writeGguf(
        p,
        [
          ['k', gv.string('a')],
          ['k', gv.string('b')],
        ],
        [],
      ),
    ).rejects.toThrow(/duplicate GGUF metadata key/);
    await expect(
      writeGguf(p, [], [{ name: 'q', shape: [2, 31], ggmlType: 'Q8_0', data: new Uint8Array(68) }]),
    ).rejects.toThrow(/divisible by 32/);
    await expect(
      writeGguf(p, [], [{ name: 'q', shape: [1, 32], ggmlType: 'Q8_0', data: new Uint8Array(30) }]),
    ).rejects.toThrow(/needs 34 bytes/);
    await expect(
      writeGguf(p, [], [{ name: 'b', dtype: 'BOOL', shape: [1], data: new Uint8Array(1) }]),
    ).rejects.toThrow(/no ggml type/);
    await expect(writeGguf(p, [], [f32('a', [1]), f32('a', [1])])).rejects.toThrow(/duplicate tensor/);
    await expect(writeGguf(p, [], [], { alignment: 24 })).rejects.toThrow(/power of two/);
    expect(fs.existsSync(p)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('GGUF getters', () => {
  it('throw typed errors on missing or mistyped keys', async () => {
    const p = tmp();
    await writeGguf(p, METADATA, []);
    const g = await openGguf(p);
    const missing = (() => {
      try {
        g.getString('minicpm.block_count');
      } catch (e) {
        return e;
      }
    })();
    expect(missing).toBeInstanceOf(GgufKeyError);
    expect((missing as GgufKeyError).key).toBe('minicpm.block_count');
    expect((missing as Error).message).toMatch(/no key 'minicpm.block_count'/);
    expect(() => g.getString('u32')).toThrow(/'u32' is uint32, expected a string/);
    expect(() => g.getNumber('text')).toThrow(/is string, expected a number/);
    expect(() => g.getNumber('u64')).toThrow(/below 2\^53/);
    expect(() => g.getStringArray('scores')).toThrow(/an array of float32, expected an array of strings/);
    expect(() => g.getBool('u8')).toThrow(GgufKeyError);
    expect(() => g.getArray('f32')).toThrow(/expected an array/);
    expect(() => g.tensor('nope')).toThrow(/no tensor named 'nope'/);
    await g.close();
  });
});

describe('GGUF reader rejects malformed files', () => {
  const good = async () => {
    const p = tmp();
    await writeGguf(p, METADATA, [f32('a', [4, 8])]);
    return fs.readFileSync(p);
  };
  const write = (bytes: Uint8Array) => {
    const p = tmp();
    fs.writeFileSync(p, bytes);
    return p;
  };
  const patch = (b: Buffer, at: number, f: (v: DataView) => void) => {
    const c = Buffer.from(b);
    f(new DataView(c.buffer, c.byteOffset + at));
    return c;
  };

  it('bad magic, old or unknown versions, tiny files', async () => {
    const b = await good();
    const cases: [Uint8Array, RegExp][] = [
      [patch(b, 0, (v) => v.setUint32(0, 0x12345678, true)), /bad magic 0x12345678/],
      [patch(b, 4, (v) => v.setUint32(0, 1, true)), /version 1 is not supported/],
      [patch(b, 4, (v) => v.setUint32(0, 3, false)), /unsupported GGUF version .*big-endian/],
      [new Uint8Array(10), /only 10 bytes/],
    ];
    for (const [bytes, msg] of cases) {
      const err = await openGguf(write(bytes)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointFormatError);
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('truncation anywhere is reported, never a crash or a hang', async () => {
    const b = await good();
    for (const cut of [24, 40, 100, 300, b.length - 200, b.length - 1]) {
      const err = await openGguf(write(b.subarray(0, cut))).catch((e: unknown) => e);
      expect(err, `cut at ${cut}`).toBeInstanceOf(CheckpointFormatError);
      expect((err as Error).message).toMatch(/truncated|past the end|exceeds the file size/);
    }
  });

  it('absurd counts, unknown value types and unknown tensor types', async () => {
    const b = await good();
    const huge = patch(b, 16, (v) => v.setBigUint64(0, 2n ** 60n, true)); // metadata count
    await expect(openGguf(write(huge))).rejects.toThrow(/exceeds the file size/);
    // First key is 'general.architecture' (8 + 20 bytes) at 24; its value type follows at 52.
    const badType = patch(b, 52, (v) => v.setUint32(0, 99, true));
    await expect(openGguf(write(badType))).rejects.toThrow(/unknown GGUF value type 99/);
    const g = await openGguf(write(b));
    const infoEnd = g.dataOffset; // the tensor info of 'a' ends with type (u32) and offset (u64) before padding
    await g.close();
    const tailStart = b.lastIndexOf(Buffer.from('a')) + 1 + 4 + 16; // name, n_dims, two dims
    expect(tailStart).toBeLessThan(infoEnd);
    await expect(openGguf(write(patch(b, tailStart, (v) => v.setUint32(0, 77, true))))).rejects.toThrow(
      /unknown ggml type 77/,
    );
    await expect(
      openGguf(write(patch(b, tailStart + 4, (v) => v.setBigUint64(0, 8n, true)))),
    ).rejects.toThrow(/not a multiple of the alignment/);
  });
});

describe.skipIf(!hasShared)('real GGUF vocab files (../shared/fixtures/gguf)', () => {
  const gdir = path.join(sharedFixtures, 'gguf');
  const files = hasShared ? fs.readdirSync(gdir).filter((f) => f.endsWith('.gguf')) : [];
  it('are all present', () => expect(files.length).toBeGreaterThanOrEqual(5));
  for (const f of files) {
    it(`${f} parses with a consistent vocabulary`, async () => {
      const g = await openGguf(path.join(gdir, f));
      expect([2, 3]).toContain(g.version);
      const arch = g.getString('general.architecture');
      expect(arch.length).toBeGreaterThan(0);
      const tokens = g.getStringArray('tokenizer.ggml.tokens');
      expect(tokens.length).toBeGreaterThan(1000);
      const model = g.getString('tokenizer.ggml.model');
      expect(['llama', 'gpt2']).toContain(model);
      const types = g.getArray('tokenizer.ggml.token_type');
      expect(types).toBeInstanceOf(Int32Array);
      expect(types.length).toBe(tokens.length);
      if (model === 'llama') {
        expect(g.getArray('tokenizer.ggml.scores').length).toBe(tokens.length);
        expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
      } else {
        expect(g.getStringArray('tokenizer.ggml.merges').length).toBeGreaterThan(1000);
      }
      expect(g.getNumber(`${arch}.context_length`)).toBeGreaterThan(0);
      expect(g.getNumber('tokenizer.ggml.eos_token_id')).toBeLessThan(tokens.length);
      expect(g.tensors).toEqual([]);
      await g.close();
    });
  }

  it('llama-spm: known values', async () => {
    const g = await openGguf(path.join(gdir, 'ggml-vocab-llama-spm.gguf'));
    expect(g.getString('general.architecture')).toBe('llama');
    expect(g.getNumber('llama.vocab_size')).toBe(32000);
    expect(g.getNumber('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
    expect(g.getNumber('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(g.getBool('tokenizer.ggml.add_bos_token')).toBe(true);
    const tokens = g.getStringArray('tokenizer.ggml.tokens');
    expect(tokens[3]).toBe('<0x00>');
    expect(tokens.indexOf('▁the')).toBeGreaterThan(0);
    await g.close();
  });

  it('a real vocabulary survives a write/read round trip', async () => {
    const src = await openGguf(path.join(gdir, 'ggml-vocab-gpt-2.gguf'));
    const p = tmp();
    await writeGguf(p, src.metadata, []);
    const copy = await openGguf(p);
    expect(copy.metadata).toEqual(src.metadata);
    await src.close();
    await copy.close();
  });
});
