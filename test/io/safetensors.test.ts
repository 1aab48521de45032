import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DTYPES,
  DTYPE_SIZE,
  f32BitsToBf16,
  numel,
  type DType,
  type TensorRecord,
} from '../../src/io/dtypes.js';
import { CheckpointFormatError, TensorNotFoundError } from '../../src/io/errors.js';
import {
  MAX_HEADER_BYTES,
  openSafetensors,
  openSafetensorsSync,
  writeSafetensors,
} from '../../src/io/safetensors.js';
import { ShardedReader, writeShardedSafetensors } from '../../src/io/sharded.js';
import { lazyTensors, type LazyTensor } from '../../src/io/tensor-source.js';
import { hasShared, leftovers, sharedFixtures, tempDir } from './helpers.js';

const dir = tempDir('st');
let counter = 0;
const tmp = (name = 'x') => path.join(dir, `${counter++}-${name}.safetensors`);

function record(name: string, dtype: DType, shape: number[], seed = 1): TensorRecord {
  const data = new Uint8Array(numel(shape) * DTYPE_SIZE[dtype]);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 7) & 0xff;
  if (dtype === 'BOOL') for (let i = 0; i < data.length; i++) data[i] &= 1;
  return { name, dtype, shape, data };
}

function rawFile(bytes: string | Uint8Array): string {
  const p = tmp('raw');
  fs.writeFileSync(p, bytes);
  return p;
}

/** A hand-made safetensors file: header object (or raw header bytes) then `dataLen` bytes. */
function craft(header: unknown, dataLen: number, headerLenOverride?: bigint): string {
  const json =
    typeof header === 'string'
      ? new TextEncoder().encode(header)
      : new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, headerLenOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  const p = tmp('crafted');
  fs.writeFileSync(p, out);
  return p;
}

describe('safetensors round trip', () => {
  it('writes and reads every dtype, scalars and empty tensors, with metadata', async () => {
    const recs = [
      ...DTYPES.map((dt, i) => record(`t.${dt}`, dt, [3, 5], i)),
      record('scalar', 'F32', []),
      record('empty', 'BF16', [0, 4]),
    ];
    const p = tmp();
    await writeSafetensors(p, recs, { format: 'pt', note: 'hello' });
    const f = await openSafetensors(p);
    expect(f.metadata).toEqual({ format: 'pt', note: 'hello' });
    expect(new Set(f.names())).toEqual(new Set(recs.map((r) => r.name)));
    for (const r of recs) {
      const got = await f.read(r.name);
      expect(got).toEqual(r);
      expect(f.readSync(r.name)).toEqual(r);
      expect(f.info(r.name)).toEqual({
        name: r.name,
        dtype: r.dtype,
        shape: r.shape,
        byteLength: r.data.byteLength,
      });
    }
    // Header padded to 8 bytes and every tensor aligned to its element size, as in the reference writer.
    expect(f.dataStart % 8).toBe(0);
    for (const n of f.names())
      expect((f.byteRange(n).start - f.dataStart) % DTYPE_SIZE[f.info(n).dtype]).toBe(0);
    await f.close();
    expect(leftovers(dir)).toEqual([]);
  });

  it('keeps the caller order for one-dtype checkpoints and reads in file order', async () => {
    const recs = ['z', 'a', 'm'].map((n) => record(n, 'F32', [2]));
    const p = tmp();
    await writeSafetensors(p, recs);
    const f = openSafetensorsSync(p);
    expect(f.names()).toEqual(['z', 'a', 'm']);
    f.closeSync();
  });

  it('keeps awkward names: __proto__ and integer-like keys (which JSON objects reorder)', async () => {
    const recs = ['__proto__', '10', '2', 'b'].map((n, i) => record(n, 'F32', [2], i));
    const p = tmp();
    await writeSafetensors(p, recs);
    const f = await openSafetensors(p);
    expect(f.names()).toEqual(['__proto__', '10', '2', 'b']);
    for (const r of recs) expect(await f.read(r.name)).toEqual(r);
    await f.close();
  });

  it('streams lazy tensors and async iterables', async () => {
    const src = [record('a', 'F16', [4, 4]), record('b', 'I64', [3]), record('c', 'U8', [5])];
    let loads = 0;
    const lazy: LazyTensor[] = src.map((r) => ({ ...r, load: () => (loads++, r.data) }));
    const p1 = tmp();
    await writeSafetensors(p1, lazy);
    expect(loads).toBe(3);
    async function* gen() {
      for (const r of src) yield await Promise.resolve(r);
    }
    const p2 = tmp();
    await writeSafetensors(p2, gen(), { k: 'v' });
    for (const p of [p1, p2]) {
      const f = await openSafetensors(p);
      for (const r of src) expect(await f.read(r.name)).toEqual(r);
      await f.close();
    }
    // Converting file to file through lazyTensors reads one tensor at a time.
    const f = await openSafetensors(p2);
    const p3 = tmp();
    await writeSafetensors(p3, lazyTensors(f), f.metadata);
    await f.close();
    const g = await openSafetensors(p3);
    expect(g.metadata).toEqual({ k: 'v' });
    expect(await g.read('b')).toEqual(src[1]);
    await g.close();
    expect(leftovers(dir)).toEqual([]);
  });

  it('rejects bad input before writing anything', async () => {
    const p = tmp();
    await expect(writeSafetensors(p, [record('a', 'F32', [2]), record('a', 'F32', [2])])).rejects.toThrow(
      /duplicate/,
    );
    await expect(writeSafetensors(p, [{ ...record('a', 'F32', [2]), shape: [3] }])).rejects.toThrow(
      /needs 12 bytes/,
    );
    await expect(writeSafetensors(p, [{ ...record('a', 'F32', [2]), dtype: 'F8' as DType }])).rejects.toThrow(
      /dtype/,
    );
    await expect(writeSafetensors(p, [], { n: 1 as unknown as string })).rejects.toThrow(/must be a string/);
    expect(fs.existsSync(p)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it('is atomic: a failure mid-write leaves the previous file intact', async () => {
    const p = tmp();
    await writeSafetensors(p, [record('old', 'F32', [2])]);
    const before = fs.readFileSync(p);
    const failing: LazyTensor = {
      name: 'boom',
      dtype: 'F32',
      shape: [2],
      load: () => {
        throw new Error('disk on fire');
      },
    };
    await expect(writeSafetensors(p, [record('new', 'F32', [2]), failing])).rejects.toThrow('disk on fire');
    expect(fs.readFileSync(p)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('safetensors reader rejects malformed files', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, () => string, RegExp][] = [
    ['a file shorter than 8 bytes', () => rawFile('abc'), /shorter than the 8-byte/],
    [
      'an absurd header length',
      () => craft(ok, 8, BigInt(MAX_HEADER_BYTES + 1)),
      /exceeds the 104857600-byte limit/,
    ],
    ['a header length past the end of the file', () => craft(ok, 8, 5000n), /runs past the end/],
    ['a header that is not JSON', () => craft('{"a": nope}', 8), /not valid UTF-8 JSON/],
    ['a header that is a JSON array', () => craft('[1,2]', 8), /not a JSON object/],
    [
      'an unknown dtype',
      () => craft({ a: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2),
      /unsupported dtype "F8_E4M3"/,
    ],
    [
      'a size that does not match dtype × shape',
      () => craft({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /= 12 bytes but data_offsets \[0, 8\] span 8/,
    ],
    [
      'offsets out of range (truncated data)',
      () => craft(ok, 4),
      /ends at data byte 8 but the file has only 4/,
    ],
    [
      'overlapping tensors',
      () => craft({ ...ok, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      /overlap/,
    ],
    [
      'negative offsets',
      () => craft({ a: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, 8),
      /invalid data_offsets/,
    ],
    [
      'a bad shape',
      () => craft({ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 8),
      /invalid shape/,
    ],
    [
      'non-string metadata',
      () => craft({ ...ok, __metadata__: { x: 1 } }, 8),
      /__metadata__.x must be a string/,
    ],
  ];
  for (const [what, make, msg] of cases) {
    it(what, async () => {
      const p = make();
      const err = await openSafetensors(p).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointFormatError);
      expect((err as Error).message).toMatch(msg);
      expect((err as CheckpointFormatError).path).toBe(p);
    });
  }

  it('names missing tensors', async () => {
    const p = craft(ok, 8);
    const f = await openSafetensors(p);
    await expect(f.read('nope')).rejects.toBeInstanceOf(TensorNotFoundError);
    expect(() => f.info('nope')).toThrow(/no tensor named 'nope'; the file has: a/);
    await f.close();
  });
});

describe('safetensors beyond 2 GiB', () => {
  it('reads tensors at positions past 2^31 (sparse file)', async () => {
    const big = 2 ** 31 + 4096; // a U8 filler whose bytes live in a hole of the sparse file
    const header = {
      filler: { dtype: 'U8', shape: [big], data_offsets: [0, big] },
      tail: { dtype: 'F32', shape: [4], data_offsets: [big, big + 16] },
    };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const p = tmp('sparse');
    const fd = fs.openSync(p, 'w');
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(json, 8);
    fs.writeSync(fd, head, 0, head.length, 0);
    const tail = new Float32Array([1.5, -2, 3.25, 4]);
    fs.writeSync(fd, new Uint8Array(tail.buffer), 0, 16, 8 + json.length + big);
    fs.closeSync(fd);
    const f = await openSafetensors(p);
    expect(f.byteRange('tail').start).toBeGreaterThan(2 ** 31);
    const r = await f.read('tail');
    expect(Array.from(new Float32Array(r.data.buffer, r.data.byteOffset, 4))).toEqual([1.5, -2, 3.25, 4]);
    expect(f.readSync('tail')).toEqual(r);
    const into = new Uint8Array(16);
    f.readIntoSync('tail', into);
    expect(Array.from(new Float32Array(into.buffer))).toEqual([1.5, -2, 3.25, 4]);
    await f.close();
    fs.rmSync(p);
  });
});

describe('sharded safetensors', () => {
  it('writes shards of at most maxShardBytes and reads them back through the index', async () => {
    const out = path.join(dir, 'sharded');
    fs.mkdirSync(out);
    const recs = Array.from({ length: 5 }, (_, i) => record(`layer.${i}.weight`, 'F32', [10, 10], i)); // 400 B each
    const { files, index } = await writeShardedSafetensors(out, recs, {
      maxShardBytes: 900,
      metadata: { format: 'pt' },
    });
    expect(files).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    expect(index).toBe('model.safetensors.index.json');
    const idx = JSON.parse(fs.readFileSync(path.join(out, index!), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(idx.metadata.total_size).toBe(2000);
    expect(idx.weight_map['layer.4.weight']).toBe('model-00003-of-00003.safetensors');
    const r = await ShardedReader.open(path.join(out, index!), (f) => openSafetensors(f));
    expect(r.names()).toEqual(recs.map((x) => x.name));
    for (const x of recs) expect(await r.read(x.name)).toEqual(x);
    expect(r.readSync('layer.2.weight')).toEqual(recs[2]);
    const into = new Uint8Array(400 + 8).subarray(4, 404); // any destination, at an offset too
    r.readIntoSync('layer.4.weight', into);
    expect(into).toEqual(recs[4].data);
    expect(() => r.readIntoSync('layer.4.weight', new Uint8Array(399))).toThrow(
      /'layer.4.weight' has 400 bytes but the destination holds 399/,
    );
    expect(() => r.readIntoSync('nope', new Uint8Array(4))).toThrow(/nope/);
    expect(r.shardOf('layer.2.weight')).toBe('model-00002-of-00003.safetensors');
    await r.close();
  });

  it('writes a single shard without an index, and reports a broken index', async () => {
    const out = path.join(dir, 'single');
    fs.mkdirSync(out);
    const res = await writeShardedSafetensors(out, [record('a', 'F32', [2])], { maxShardBytes: 1e9 });
    expect(res).toEqual({ files: ['model.safetensors'] });
    fs.writeFileSync(
      path.join(out, 'bad.index.json'),
      JSON.stringify({ weight_map: { a: 'model.safetensors', b: 'model.safetensors' } }),
    );
    await expect(
      ShardedReader.open(path.join(out, 'bad.index.json'), (f) => openSafetensors(f)),
    ).rejects.toThrow(/does not contain it/);
    fs.writeFileSync(
      path.join(out, 'bad2.index.json'),
      JSON.stringify({ weight_map: { a: 'gone.safetensors' } }),
    );
    await expect(
      ShardedReader.open(path.join(out, 'bad2.index.json'), (f) => openSafetensors(f)),
    ).rejects.toThrow(/missing/);
    fs.writeFileSync(
      path.join(out, 'bad3.index.json'),
      JSON.stringify({ weight_map: { a: '../../etc/passwd' } }),
    );
    await expect(
      ShardedReader.open(path.join(out, 'bad3.index.json'), (f) => openSafetensors(f)),
    ).rejects.toThrow(/invalid shard/);
  });
});

describe.skipIf(!hasShared)('real fixtures (../shared/fixtures/minicpm)', () => {
  for (const model of ['tiny-mha', 'tiny-gqa']) {
    it(`${model}: the bf16 file is the RNE rounding of the f32 file`, async () => {
      const base = path.join(sharedFixtures, 'minicpm', model);
      const f32 = await openSafetensors(path.join(base, 'model.safetensors'));
      const bf16 = await openSafetensors(path.join(base, 'model.bf16.safetensors'));
      const config = JSON.parse(fs.readFileSync(path.join(base, 'config.json'), 'utf8')) as {
        hidden_size: number;
        vocab_size: number;
      };
      expect(f32.info('model.embed_tokens.weight').shape).toEqual([config.vocab_size, config.hidden_size]);
      expect(bf16.names()).toEqual(f32.names());
      for (const name of f32.names()) {
        const a = await f32.read(name);
        const b = await bf16.read(name);
        expect(a.dtype).toBe('F32');
        expect(b.dtype).toBe('BF16');
        expect(b.shape).toEqual(a.shape);
        const src = new Uint32Array(a.data.buffer, a.data.byteOffset, a.data.byteLength / 4);
        const got = new Uint16Array(b.data.buffer, b.data.byteOffset, b.data.byteLength / 2);
        let mismatches = 0;
        for (let i = 0; i < src.length; i++) if (f32BitsToBf16(src[i]) !== got[i]) mismatches++;
        expect(mismatches, name).toBe(0);
      }
      await f32.close();
      await bf16.close();
    });
  }

  it('re-writes a real checkpoint byte-identically in tensor content', async () => {
    const src = await openSafetensors(path.join(sharedFixtures, 'minicpm/tiny-mha/model.safetensors'));
    const p = tmp('copy');
    await writeSafetensors(p, lazyTensors(src), src.metadata);
    const copy = await openSafetensors(p);
    expect(copy.names()).toEqual(src.names());
    for (const n of src.names()) {
      const [a, b] = [await copy.read(n), await src.read(n)];
      expect({ ...a, data: null }).toEqual({ ...b, data: null });
      expect(Buffer.compare(a.data, b.data), n).toBe(0); // deep-equal on big arrays is slow
    }
    await src.close();
    await copy.close();
  });
});
