/**
 * Seeded mutations of real files, AFL-style: bit flips, interesting values over bytes and little-endian
 * integers (lengths and offsets live there), deleted, duplicated and inserted chunks, truncation and
 * extension; JSON documents are also mutated structurally (a value replaced by one of another type, a huge
 * or negative number, a key removed), which reaches the checks behind the parser.
 */

/** xorshift32: the same seed, the same case, on every machine. */
export class FuzzRng {
  private s: number;

  constructor(seed: number) {
    this.s = (seed * 0x9e3779b1 + 0x6d2b79f5) >>> 0 || 1;
  }

  next(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s;
  }

  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 65536, 0x100000];
const INTERESTING_64 = [0n, 1n, 0x7fffffffffffffffn, 0xffffffffffffffffn, 1n << 40n, 1n << 53n];

/**
 * Byte-level mutation. Positions favour the start of the file (headers) half of the time, where a flip
 * reaches a parser rather than tensor data.
 */
export function mutateBytes(src: Uint8Array, rng: FuzzRng, rounds = 1 + rng.int(4)): Uint8Array {
  let b: Uint8Array = Uint8Array.from(src);
  const pos = (len: number): number => (rng.int(2) ? rng.int(Math.min(len, 4096)) : rng.int(len));
  for (let r = 0; r < rounds; r++) {
    const n = b.length;
    switch (rng.int(9)) {
      case 0: // bit flip
        if (n) b[pos(n)] ^= 1 << rng.int(8);
        break;
      case 1: // interesting byte
        if (n) b[pos(n)] = rng.pick(INTERESTING_8);
        break;
      case 2: {
        // interesting u32 (lengths, counts)
        if (n < 4) break;
        const p = Math.min(pos(n), n - 4);
        new DataView(b.buffer).setUint32(p, rng.pick(INTERESTING_32), true);
        break;
      }
      case 3: {
        // interesting u64 (offsets, header lengths)
        if (n < 8) break;
        const p = Math.min(pos(n), n - 8);
        new DataView(b.buffer).setBigUint64(p, rng.pick(INTERESTING_64), true);
        break;
      }
      case 4: // truncate
        b = b.slice(0, rng.int(n + 1));
        break;
      case 5: {
        // delete a chunk
        const p = pos(n);
        const len = 1 + rng.int(Math.min(256, n - p + 1));
        b = concat(b.subarray(0, p), b.subarray(p + len));
        break;
      }
      case 6: {
        // duplicate a chunk in place
        const p = pos(n);
        const chunk = b.slice(p, p + 1 + rng.int(64));
        b = concat(b.subarray(0, p), chunk, b.subarray(p));
        break;
      }
      case 7: {
        // insert random bytes
        const p = pos(n);
        const junk = Uint8Array.from({ length: 1 + rng.int(32) }, () => rng.int(256));
        b = concat(b.subarray(0, p), junk, b.subarray(p));
        break;
      }
      default: {
        // extend with zeros or junk
        const extra = new Uint8Array(1 + rng.int(1024));
        if (rng.int(2)) for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
        b = concat(b, extra);
      }
    }
  }
  return b;
}

const WEIRD_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1e300,
  -1e300,
  2 ** 53 + 2,
  0.5,
  '',
  'x',
  '\u0000',
  [],
  {},
  [1, 2, 3],
  { a: 1 },
  'F32',
  'I64',
  [2 ** 31, 2 ** 31],
  [-1],
];

/** Replaces, removes or retypes one value somewhere in a JSON document. */
export function mutateJson(doc: unknown, rng: FuzzRng): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const paths: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 6 || paths.length > 20_000 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      const step = Math.max(1, Math.floor(v.length / 64));
      for (let i = 0; i < v.length; i += step) {
        paths.push({ parent: v, key: i });
        walk(v[i], depth + 1);
      }
    } else
      for (const k of Object.keys(v)) {
        paths.push({ parent: v as Record<string, unknown>, key: k });
        walk((v as Record<string, unknown>)[k], depth + 1);
      }
  };
  walk(copy, 0);
  if (!paths.length) return rng.pick(WEIRD_VALUES);
  for (let r = 1 + rng.int(3); r > 0; r--) {
    const { parent, key } = rng.pick(paths);
    if (rng.int(4) === 0 && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
    else (parent as Record<string, unknown>)[key as string] = rng.pick(WEIRD_VALUES);
  }
  return copy;
}
