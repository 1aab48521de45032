import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { toFloat32, typedView, type TensorRecord } from '../../src/io/dtypes.js';
import { CheckpointFormatError, TensorNotFoundError, UnsafePickleError } from '../../src/io/errors.js';
import { unpickle, type PickleValue } from '../../src/io/pickle.js';
import { openPytorchBin, PytorchBinFile } from '../../src/io/pytorch-bin.js';
import { ioFixtures, tempDir } from './helpers.js';

const dir = tempDir('pt');
const fixture = (name: string) => path.join(ioFixtures, name);

type Expected = Record<string, { dtype: string; shape: number[]; values: (number | string | boolean)[] }>;

function values(r: TensorRecord): (number | boolean)[] {
  if (r.dtype === 'BOOL') return Array.from(r.data, (b) => b !== 0);
  if (r.dtype === 'F64') return Array.from(typedView(r) as Float64Array);
  if (r.dtype === 'I64') return Array.from(typedView(r) as BigInt64Array, Number);
  if (r.dtype === 'F32' || r.dtype === 'F16' || r.dtype === 'BF16') return Array.from(toFloat32(r));
  return Array.from(typedView(r) as Int32Array);
}
const fromJson = (v: number | string | boolean) =>
  v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : v;

describe('pytorch_model.bin (torch.save zip format)', () => {
  // module-deflated: entries deflated; state-dict-zip64: ZIP64 end record, locator and extra fields.
  for (const name of ['state-dict', 'module', 'module-deflated', 'state-dict-zip64', 'parameters']) {
    it(`${name}.pt: every tensor matches what PyTorch saved`, async () => {
      const expected = JSON.parse(
        fs.readFileSync(fixture(`expected-${name.replace(/-(deflated|zip64)$/, '')}.json`), 'utf8'),
      ) as Expected;
      const f = await openPytorchBin(fixture(`${name}.pt`));
      expect(f.names()).toEqual(Object.keys(expected));
      for (const [key, want] of Object.entries(expected)) {
        const r = await f.read(key);
        expect(r.dtype, key).toBe(want.dtype);
        expect(r.shape, key).toEqual(want.shape);
        expect(values(r), key).toEqual(want.values.map(fromJson));
        expect(f.readSync(key)).toEqual(r);
        expect(f.info(key).byteLength).toBe(r.data.byteLength);
        const into = new Uint8Array(r.data.byteLength);
        f.readIntoSync(key, into);
        expect(into).toEqual(r.data);
      }
      await f.close();
    });
  }

  it('resolves shared storages, offsets and strides', () => {
    const f = PytorchBinFile.openSync(fixture('state-dict.pt'));
    const a = f.layout('shared_a');
    const b = f.layout('shared_b');
    expect(a.storageKey).toBe(b.storageKey);
    expect(a.offset).toBe(2);
    expect(b).toMatchObject({ offset: 1, stride: [3] });
    expect(f.layout('transposed').stride).toEqual([1, 6]);
    expect(f.layout('bf16_t').storageKey).toBe(f.layout('bf16').storageKey);
    expect(() => f.info('missing')).toThrow(TensorNotFoundError);
  });

  it('refuses a malicious pickle without running it', async () => {
    const marker = '/tmp/minicpm-pwned';
    fs.rmSync(marker, { force: true });
    const err = await openPytorchBin(fixture('malicious.pt')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect((err as UnsafePickleError).global).toBe('posix.system');
    expect((err as Error).message).toMatch(/'posix\.system', which is not allowed/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('explains the legacy format', async () => {
    await expect(openPytorchBin(fixture('legacy.pt'))).rejects.toThrow(
      /legacy \(PyTorch < 1\.6\) torch\.save format/,
    );
  });

  it('rejects files that are not zips, truncated zips and missing storages', async () => {
    const good = fs.readFileSync(fixture('state-dict.pt'));
    const write = (name: string, bytes: Uint8Array) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, bytes);
      return p;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      [
        'random.bin',
        new TextEncoder().encode('definitely not a checkpoint'),
        /does not start with a zip header/,
      ],
      ['empty.bin', new Uint8Array(0), /does not start with a zip header/],
      [
        'truncated.bin',
        good.subarray(0, good.length - 300),
        /no end-of-central-directory record|central directory/,
      ],
      ['half.bin', good.subarray(0, good.length >> 1), /no end-of-central-directory record/],
    ];
    // Rename storage 5 in both headers: the archive is valid, the pickle points at a missing entry.
    const renamed = Buffer.from(good);
    const from = Buffer.from('state-dict/data/5');
    for (let at = renamed.indexOf(from); at >= 0; at = renamed.indexOf(from, at + 1))
      renamed[at + from.length - 1] = 0x5a;
    cases.push(['missing-storage.bin', renamed, /storage '5' is missing from the archive/]);
    // Damage the pickle: cut data.pkl's STOP opcode region by overwriting with an unknown opcode.
    const badPkl = Buffer.from(good);
    const pklAt = badPkl.indexOf(Buffer.from([0x80, 0x02])); // PROTO 2 at the start of data.pkl's content
    badPkl[pklAt + 2] = 0xff;
    cases.push(['bad-pickle.bin', badPkl, /unsupported opcode 0xff/]);
    for (const [name, bytes, msg] of cases) {
      const p = write(name, bytes);
      const err = await openPytorchBin(p).catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(CheckpointFormatError);
      expect((err as Error).message, name).toMatch(msg);
    }
  });
});

// Pickles made by CPython's pickle.dumps, protocols 0-5, of
// {'a': [1, -2, 2**70, -(2**70), 1.5, True, False, None, 'héllo', (1, 2), (), (3,), (4, 5, 6), [7]*2],
//  'b': {'c': 255, 'd': 65536, 'e': -1, 'f': -2**31}}
const SAMPLE: string[] = [
  '286470300a56610a70310a286c70320a49310a61492d320a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a6146312e350a614930310a614930300a614e615668e96c6c6f0a70330a612849310a49320a7470340a612874612849330a7470350a612849340a49350a49360a7470360a61286c70370a49370a6149370a61617356620a70380a286470390a56630a7031300a493235350a7356640a7031310a4936353533360a7356650a7031320a492d310a7356660a7031330a492d323134373438333634380a73732e',
  '7d71002858010000006171015d7102284b014afeffffff4c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a473ff80000000000004930310a4930300a4e580600000068c3a96c6c6f7103284b014b0274710429284b03747105284b044b054b067471065d7107284b074b07656558010000006271087d710928580100000063710a4bff580100000064710b4a00000100580100000065710c4affffffff580100000066710d4a0000008075752e',
  '80027d71002858010000006171015d7102284b014afeffffff8a090000000000000000408a090000000000000000c0473ff800000000000088894e580600000068c3a96c6c6f71034b014b02867104294b038571054b044b054b068771065d7107284b074b07656558010000006271087d710928580100000063710a4bff580100000064710b4a00000100580100000065710c4affffffff580100000066710d4a0000008075752e',
  '80037d71002858010000006171015d7102284b014afeffffff8a090000000000000000408a090000000000000000c0473ff800000000000088894e580600000068c3a96c6c6f71034b014b02867104294b038571054b044b054b068771065d7107284b074b07656558010000006271087d710928580100000063710a4bff580100000064710b4a00000100580100000065710c4affffffff580100000066710d4a0000008075752e',
  '80049583000000000000007d94288c0161945d94284b014afeffffff8a090000000000000000408a090000000000000000c0473ff800000000000088894e8c0668c3a96c6c6f944b014b028694294b0385944b044b054b0687945d94284b074b0765658c0162947d94288c0163944bff8c0164944a000001008c0165944affffffff8c0166944a0000008075752e',
  '80059583000000000000007d94288c0161945d94284b014afeffffff8a090000000000000000408a090000000000000000c0473ff800000000000088894e8c0668c3a96c6c6f944b014b028694294b0385944b044b054b0687945d94284b074b0765658c0162947d94288c0163944bff8c0164944a000001008c0165944affffffff8c0166944a0000008075752e',
];
// Protocol 4 of {'x': b'\x00\x01', 's': {1}, 'fs': frozenset([2])}
const SETS_BYTES =
  '80049522000000000000007d94288c01789443020001948c0173948f94284b01908c02667394284b029194752e';
// Objects whose __reduce__ is (os.system, ('true',)), protocols 0, 2 and 4 (GLOBAL and STACK_GLOBAL).
const EVIL = [
  '63706f7369780a73797374656d0a70300a2856747275650a70310a7470320a5270330a2e',
  '800263706f7369780a73797374656d0a710058040000007472756571018571025271032e',
  '8004951f000000000000008c05706f736978948c0673797374656d9493948c047472756594859452942e',
];

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const strict = {
  path: 'test.pkl',
  findGlobal(module: string, name: string): PickleValue {
    throw new UnsafePickleError('test.pkl', `${module}.${name}`);
  },
};

describe('restricted unpickler', () => {
  const want = new Map<PickleValue, PickleValue>([
    [
      'a',
      [1, -2, 2n ** 70n, -(2n ** 70n), 1.5, true, false, null, 'héllo', [1, 2], [], [3], [4, 5, 6], [7, 7]],
    ],
    [
      'b',
      new Map<PickleValue, PickleValue>([
        ['c', 255],
        ['d', 65536],
        ['e', -1],
        ['f', -(2 ** 31)],
      ]),
    ],
  ]);
  SAMPLE.forEach((h, proto) => {
    it(`decodes protocol ${proto}`, () => {
      expect(unpickle(hex(h), strict)).toEqual(want);
    });
  });

  it('decodes bytes, sets and frozensets', () => {
    const v = unpickle(hex(SETS_BYTES), strict) as Map<string, PickleValue>;
    expect(v.get('x')).toEqual(new Uint8Array([0, 1]));
    expect(v.get('s')).toEqual(new Set([1]));
    expect(v.get('fs')).toEqual(new Set([2]));
  });

  EVIL.forEach((h, i) => {
    it(`refuses os.system (${['GLOBAL, protocol 0', 'GLOBAL, protocol 2', 'STACK_GLOBAL, protocol 4'][i]})`, () => {
      expect(() => unpickle(hex(h), strict)).toThrow(UnsafePickleError);
      expect(() => unpickle(hex(h), strict)).toThrow(/posix\.system/);
    });
  });

  it('reports truncated and malformed pickles', () => {
    const full = hex(SAMPLE[2]);
    expect(() => unpickle(full.subarray(0, 40), strict)).toThrow(/unexpected end of data/);
    expect(() => unpickle(hex('80025d71002e'.replace('5d', '52')), strict)).toThrow(CheckpointFormatError); // REDUCE on empty stack
    expect(() => unpickle(hex('8002680a2e'), strict)).toThrow(/memo entry 10 is missing/);
    expect(() => unpickle(hex('800658'), strict)).toThrow(/protocol newer than 5/);
    expect(() => unpickle(hex('80024e4e52'), strict)).toThrow(/REDUCE arguments are not a tuple/);
  });
});
