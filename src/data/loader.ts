/**
 * The training loader: packed sequences of T+1 tokens cut from each source's token stream (documents
 * already wrapped as BOS + doc + EOS by `data prepare`), sources drawn by the mixture's weights.
 *
 * Each source's stream is divided into windows of T+1 tokens at stride T, so every token is a target
 * exactly once per epoch; an epoch visits the windows in a seeded permutation. Row r of the run picks its
 * source with a uniform that depends only on (seed, r). The cursor is therefore tiny (rows served, and
 * per source the epoch and position) and `restore(state)` continues with exactly the next batch.
 *
 * Packing choice: targets are never masked at document boundaries. The target after a document's EOS
 * is the next document's BOS, and tokens attend across the boundary inside a window, as in GPT-style
 * pretraining; BOS/EOS tell the model where documents start and end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoaderError } from './errors.js';
import { hashString, permutation, uniformAt } from './random.js';
import { bytesPer, readShardIndex, type ShardIndex, type TokenDtype } from './shards/format.js';
import type { Split } from './split.js';

export interface LoaderOptions {
  shardsDir: string;
  split: Split;
  /** Sequence length T: each row has T inputs and T targets. */
  seqLen: number;
  batchSize: number;
  seed: number;
  /** A mixture name recorded in the index, or explicit weights; default: every source, weighted by its tokens. */
  mixture?: string | Record<string, number>;
  /** Visit windows in a seeded random order (default: true for train, false for val). */
  shuffle?: boolean;
}

export interface LoaderState {
  version: 1;
  shardsDir: string;
  split: Split;
  seqLen: number;
  batchSize: number;
  seed: number;
  shuffle: boolean;
  weights: Record<string, number>;
  /** Tokens per source when the cursor was saved: a re-prepared folder is refused. */
  tokens: Record<string, number>;
  /** Rows (sequences) served so far. */
  rows: number;
  cursors: Record<string, { epoch: number; pos: number }>;
}

export interface PackedBatch {
  /** B×T row-major input ids. */
  inputs: Int32Array;
  /** B×T next-token targets (inputs shifted by one). */
  targets: Int32Array;
  /** Target tokens in the batch (B×T). */
  tokens: number;
  batch: number;
  seqLen: number;
}

class SourceStream {
  readonly total: number;
  readonly windows: number;
  private readonly files: { path: string; start: number; tokens: number; fd?: number }[] = [];
  private perm?: { epoch: number; order: Uint32Array };

  constructor(
    readonly name: string,
    dir: string,
    shards: { file: string; tokens: number }[],
    private readonly dtype: TokenDtype,
    private readonly seqLen: number,
  ) {
    let start = 0;
    for (const s of shards) {
      const p = path.join(dir, s.file);
      const size = fs.existsSync(p) ? fs.statSync(p).size : -1;
      if (size !== s.tokens * bytesPer(dtype))
        throw new LoaderError(
          `${p} is missing or truncated (${size} bytes, expected ${s.tokens * bytesPer(dtype)}); run data prepare again`,
        );
      this.files.push({ path: p, start, tokens: s.tokens });
      start += s.tokens;
    }
    this.total = start;
    this.windows = Math.max(0, Math.floor((this.total - 1) / seqLen));
  }

  /** The window index at `pos` of `epoch`. */
  window(epoch: number, pos: number, seed: number, shuffle: boolean): number {
    if (!shuffle) return pos;
    if (this.perm?.epoch !== epoch)
      this.perm = {
        epoch,
        order: permutation(this.windows, hashString(this.name, seed ^ Math.imul(epoch + 1, 0x9e3779b1))),
      };
    return this.perm.order[pos];
  }

  /** Read tokens [offset, offset + out.length) into `out`, across shard files. */
  read(offset: number, out: Int32Array, scratch: Uint8Array): void {
    const bpt = bytesPer(this.dtype);
    let done = 0;
    let lo = 0;
    let hi = this.files.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.files[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    for (let f = lo; done < out.length; f++) {
      const file = this.files[f];
      file.fd ??= fs.openSync(file.path, 'r');
      const from = offset + done - file.start;
      const n = Math.min(out.length - done, file.tokens - from);
      const bytes = scratch.subarray(0, n * bpt);
      fs.readSync(file.fd, bytes, 0, bytes.length, from * bpt);
      const view =
        this.dtype === 'uint16'
          ? new Uint16Array(bytes.buffer, bytes.byteOffset, n)
          : new Uint32Array(bytes.buffer, bytes.byteOffset, n);
      out.set(view, done);
      done += n;
    }
  }

  close(): void {
    for (const f of this.files) {
      if (f.fd !== undefined) fs.closeSync(f.fd);
      f.fd = undefined;
    }
  }
}

function resolveWeights(
  index: ShardIndex,
  dir: string,
  split: Split,
  mixture: LoaderOptions['mixture'],
): Record<string, number> {
  if (mixture === undefined)
    return Object.fromEntries(Object.values(index.sources).map((s) => [s.name, s[split].tokens]));
  if (typeof mixture === 'string') {
    const m = index.mixtures[mixture];
    if (!m)
      throw new LoaderError(
        `${dir} has no mixture "${mixture}" (it has ${Object.keys(index.mixtures).join(', ') || 'none'}); run data prepare --mixture ${mixture}`,
      );
    return m.weights;
  }
  return mixture;
}

export class PackedLoader {
  private readonly streams: SourceStream[] = [];
  private readonly cumulative: number[] = [];
  private readonly scratch: Uint8Array;
  private readonly window: Int32Array;
  private readonly opts: Required<Omit<LoaderOptions, 'mixture'>> & { weights: Record<string, number> };
  private rows = 0;
  private cursors: { epoch: number; pos: number }[];

  constructor(opts: LoaderOptions) {
    const T = opts.seqLen;
    if (!Number.isInteger(T) || T < 1 || !Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new LoaderError(
        `seqLen and batchSize must be positive integers (got ${opts.seqLen}, ${opts.batchSize})`,
      );
    }
    if (os.endianness() !== 'LE')
      throw new LoaderError('shards are little-endian and this machine is big-endian; this is not supported');
    const index = readShardIndex(opts.shardsDir);
    const weights = resolveWeights(index, opts.shardsDir, opts.split, opts.mixture);
    this.opts = {
      shardsDir: opts.shardsDir,
      split: opts.split,
      seqLen: T,
      batchSize: opts.batchSize,
      seed: opts.seed,
      shuffle: opts.shuffle ?? opts.split === 'train',
      weights,
    };
    let sum = 0;
    for (const [name, w] of Object.entries(weights)) {
      if (!(w >= 0)) throw new LoaderError(`weight of ${name} must be a non-negative number, got ${w}`);
      if (w === 0) continue;
      const src = index.sources[name];
      if (!src)
        throw new LoaderError(
          `${opts.shardsDir} has no source "${name}" (it has ${Object.keys(index.sources).join(', ')}); prepare a mixture that includes it`,
        );
      const stream = new SourceStream(name, opts.shardsDir, src[opts.split].shards, index.dtype, T);
      if (stream.windows < 1)
        throw new LoaderError(
          `${name} has only ${stream.total} ${opts.split} tokens, fewer than seqLen + 1 = ${T + 1}; use a shorter --seq-len or drop it from the mixture`,
        );
      this.streams.push(stream);
      sum += w;
      this.cumulative.push(sum);
    }
    if (!this.streams.length) throw new LoaderError('the mixture gives no source a positive weight');
    for (let i = 0; i < this.cumulative.length; i++) this.cumulative[i] /= sum;
    this.cursors = this.streams.map(() => ({ epoch: 0, pos: 0 }));
    this.scratch = new Uint8Array(new ArrayBuffer((T + 1) * 4));
    this.window = new Int32Array(T + 1);
  }

  static restore(state: LoaderState): PackedLoader {
    const loader = new PackedLoader({ ...state, mixture: state.weights });
    loader.setState(state);
    return loader;
  }

  private pick(row: number): number {
    const u = uniformAt(this.opts.seed, row);
    let i = 0;
    while (i < this.cumulative.length - 1 && u >= this.cumulative[i]) i++;
    return i;
  }

  next(): PackedBatch {
    const { batchSize: B, seqLen: T, seed, shuffle } = this.opts;
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = this.pick(this.rows++);
      const stream = this.streams[s];
      const c = this.cursors[s];
      if (c.pos >= stream.windows) {
        c.epoch++;
        c.pos = 0;
      }
      const w = stream.window(c.epoch, c.pos++, seed, shuffle);
      stream.read(w * T, this.window, this.scratch);
      inputs.set(this.window.subarray(0, T), b * T);
      targets.set(this.window.subarray(1), b * T);
    }
    return { inputs, targets, tokens: B * T, batch: B, seqLen: T };
  }

  state(): LoaderState {
    const o = this.opts;
    return {
      version: 1,
      shardsDir: o.shardsDir,
      split: o.split,
      seqLen: o.seqLen,
      batchSize: o.batchSize,
      seed: o.seed,
      shuffle: o.shuffle,
      weights: { ...o.weights },
      tokens: Object.fromEntries(this.streams.map((s) => [s.name, s.total])),
      rows: this.rows,
      cursors: Object.fromEntries(this.streams.map((s, i) => [s.name, { ...this.cursors[i] }])),
    };
  }

  setState(state: unknown): void {
    const s = state as LoaderState;
    const o = this.opts;
    if (!s || s.version !== 1 || typeof s.rows !== 'number' || !s.cursors)
      throw new LoaderError('not a loader state: pass the object that state() returned');
    const same =
      s.split === o.split &&
      s.seqLen === o.seqLen &&
      s.batchSize === o.batchSize &&
      s.seed === o.seed &&
      s.shuffle === o.shuffle &&
      JSON.stringify(s.weights) === JSON.stringify(o.weights);
    if (!same)
      throw new LoaderError(
        'the saved loader state was made with another split, seqLen, batchSize, seed or mixture; restore with PackedLoader.restore(state) or the same options',
      );
    this.streams.forEach((stream, i) => {
      if (s.tokens[stream.name] !== stream.total)
        throw new LoaderError(
          `${stream.name} had ${s.tokens[stream.name]} tokens when the state was saved and has ${stream.total} now: the shards were prepared again, so the exact next batch no longer exists`,
        );
      const c = s.cursors[stream.name];
      this.cursors[i] = c ? { epoch: c.epoch, pos: c.pos } : { epoch: 0, pos: 0 };
    });
    this.rows = s.rows;
  }

  /** Epochs consumed per source so far (fractional): repetition made visible during training. */
  epochs(): Record<string, number> {
    return Object.fromEntries(
      this.streams.map((s, i) => [s.name, this.cursors[i].epoch + this.cursors[i].pos / s.windows]),
    );
  }

  close(): void {
    for (const s of this.streams) s.close();
  }
}
