// safetensors: 8-byte LE header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__},
// then the raw data. We read it through a file descriptor, one tensor at a time, so a 5 GB checkpoint
// never needs to be in memory at once, and write it streaming and atomically.

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { byteSize, DTYPE_SIZE, isDType, isValidShape, type DType, type TensorRecord } from './dtypes.js';
import { CheckpointFormatError, TensorNotFoundError } from './errors.js';
import {
  atomicWriteFile,
  closeFd,
  promised,
  readAt,
  readAtSync,
  readIntoSync,
  tempSibling,
  type FileWriter,
} from './file-io.js';
import {
  checkInto,
  checkSource,
  sourceBytes,
  type TensorInfo,
  type TensorReader,
  type TensorSource,
} from './tensor-source.js';

/** Headers beyond this are refused: real ones are a few hundred KB, and a bogus length must not OOM us. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

interface Entry extends TensorInfo {
  begin: number; // relative to the start of the data section
}

export class SafetensorsFile implements TensorReader {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly metadata: Record<string, string>,
    private readonly entries: Map<string, Entry>,
    /** Absolute file offset of the data section (8 + header length). */
    readonly dataStart: number,
  ) {}

  /** Open and validate the header; tensor data is read later, on demand. */
  static open(path: string): Promise<SafetensorsFile> {
    return promised(() => SafetensorsFile.openSync(path));
  }

  static openSync(path: string): SafetensorsFile {
    const fd = fs.openSync(path, 'r');
    try {
      const { metadata, entries, dataStart } = parseHeader(path, fd, fs.fstatSync(fd).size);
      return new SafetensorsFile(path, fd, metadata, entries, dataStart);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const { dtype, shape, byteLength } = this.entry(name);
    return { name, dtype, shape: [...shape], byteLength };
  }

  /** Absolute byte range of a tensor in the file (for callers that want to mmap or stream it themselves). */
  byteRange(name: string): { start: number; end: number } {
    const e = this.entry(name);
    return { start: this.dataStart + e.begin, end: this.dataStart + e.begin + e.byteLength };
  }

  async read(name: string): Promise<TensorRecord> {
    const e = this.entry(name);
    const data = await readAt(this.fd, this.dataStart + e.begin, e.byteLength, this.path);
    return { name, dtype: e.dtype, shape: [...e.shape], data };
  }

  readSync(name: string): TensorRecord {
    const e = this.entry(name);
    const data = readAtSync(this.fd, this.dataStart + e.begin, e.byteLength, this.path);
    return { name, dtype: e.dtype, shape: [...e.shape], data };
  }

  readIntoSync(name: string, into: Uint8Array): void {
    const e = this.entry(name);
    checkInto(this.path, this.info(name), into);
    readIntoSync(this.fd, this.dataStart + e.begin, into, this.path);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeFd(this.fd);
  }

  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private entry(name: string): Entry {
    if (this.closed) throw new Error(`${this.path}: file is closed`);
    const e = this.entries.get(name);
    if (!e) throw new TensorNotFoundError(this.path, name, this.names());
    return e;
  }
}

export function openSafetensors(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(path);
}

export function openSafetensorsSync(path: string): SafetensorsFile {
  return SafetensorsFile.openSync(path);
}

function parseHeader(
  path: string,
  fd: number,
  fileSize: number,
): { metadata: Record<string, string>; entries: Map<string, Entry>; dataStart: number } {
  const bad = (msg: string) => new CheckpointFormatError(path, `not a valid safetensors file: ${msg}`);
  if (fileSize < 8) throw bad(`the file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const lenBytes = readAtSync(fd, 0, 8, path);
  const headerLen = Number(new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES) {
    throw bad(
      `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupted or another format)`,
    );
  }
  if (8 + headerLen > fileSize) {
    throw bad(
      `header length ${headerLen} runs past the end of the ${fileSize}-byte file (truncated download?)`,
    );
  }
  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readAtSync(fd, 8, headerLen, path));
    json = JSON.parse(text);
  } catch {
    throw bad('the header is not valid UTF-8 JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw bad('the header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const list: Entry[] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw bad('__metadata__ must be an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw bad(`__metadata__.${k} must be a string`);
        metadata[k] = s;
      }
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (t === null || typeof t !== 'object') throw bad(`entry '${name}' is not an object`);
    if (!isDType(t.dtype)) {
      throw bad(
        `tensor '${name}' has unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`,
      );
    }
    if (!isValidShape(t.shape)) throw bad(`tensor '${name}' has invalid shape ${JSON.stringify(t.shape)}`);
    const off = t.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)
    ) {
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const want = byteSize(t.dtype, t.shape);
    if (end < begin || end - begin !== want) {
      throw bad(
        `tensor '${name}' is ${t.dtype} [${t.shape.join(', ')}] = ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > dataLen) {
      throw bad(
        `tensor '${name}' ends at data byte ${end} but the file has only ${dataLen} data bytes (truncated?)`,
      );
    }
    list.push({ name, dtype: t.dtype, shape: t.shape, byteLength: want, begin });
  }
  // File order; overlapping ranges mean a corrupted or hostile header.
  const order = list.map((e, i) => ({ e, i })).sort((a, b) => a.e.begin - b.e.begin || a.i - b.i);
  let prevEnd = 0;
  let prevName = '';
  for (const { e } of order) {
    if (e.byteLength === 0) continue;
    if (e.begin < prevEnd) throw bad(`tensors '${prevName}' and '${e.name}' overlap in the data section`);
    prevEnd = e.begin + e.byteLength;
    prevName = e.name;
  }
  return { metadata, entries: new Map(order.map(({ e }) => [e.name, e])), dataStart };
}

// ---- writing ------------------------------------------------------------------------------------

function checkMetadata(metadata: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string')
      throw new TypeError(`safetensors metadata '${k}' must be a string, got ${typeof v}`);
  }
}

/** Header bytes for tensors laid out in the given order, padded with spaces to a multiple of 8. */
function encodeHeader(
  layout: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[],
  metadata: Record<string, string> | undefined,
): Uint8Array {
  const header = Object.create(null) as Record<string, unknown>; // a tensor may be named __proto__
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  for (const t of layout) header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [t.begin, t.end] };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8; // keeps the data section 8-byte aligned
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

function planLayout(sources: TensorSource[]) {
  const seen = new Set<string>();
  for (const t of sources) {
    checkSource(t);
    if (t.name === '__metadata__') throw new TypeError(`'__metadata__' is reserved and cannot name a tensor`);
    if (seen.has(t.name)) throw new TypeError(`duplicate tensor name '${t.name}'`);
    seen.add(t.name);
  }
  // Largest elements first (a stable sort, so one-dtype checkpoints keep the caller's order): every
  // tensor then starts at a multiple of its element size, as in the reference writer.
  const ordered = sources
    .map((t, i) => ({ t, i }))
    .sort((a, b) => DTYPE_SIZE[b.t.dtype] - DTYPE_SIZE[a.t.dtype] || a.i - b.i)
    .map(({ t }) => t);
  let off = 0;
  const layout = ordered.map((t) => {
    const begin = off;
    off += byteSize(t.dtype, t.shape);
    return { name: t.name, dtype: t.dtype, shape: [...t.shape], begin, end: off, source: t };
  });
  return layout;
}

function isAsyncIterable<T>(x: Iterable<T> | AsyncIterable<T>): x is AsyncIterable<T> {
  return typeof (x as AsyncIterable<T>)[Symbol.asyncIterator] === 'function';
}

/**
 * Write a safetensors file atomically (temp file + fsync + rename). Tensors are loaded one at a time:
 * pass LazyTensors (e.g. `lazyTensors(reader)`) to convert a checkpoint without holding it in memory.
 * An async iterable is streamed to a spill file first, since the header must precede the data.
 */
export async function writeSafetensors(
  path: string,
  tensors: Iterable<TensorSource> | AsyncIterable<TensorSource>,
  metadata?: Record<string, string>,
): Promise<void> {
  checkMetadata(metadata);
  if (isAsyncIterable(tensors)) return writeFromAsync(path, tensors, metadata);
  const layout = planLayout([...tensors]);
  await atomicWriteFile(path, async (w) => {
    await w.write(encodeHeader(layout, metadata));
    for (const t of layout) await w.write(await sourceBytes(t.source));
  });
}

async function writeFromAsync(
  path: string,
  tensors: AsyncIterable<TensorSource>,
  metadata: Record<string, string> | undefined,
): Promise<void> {
  const spill = tempSibling(path, 'spill');
  const fh = await fsp.open(spill, 'wx+');
  try {
    const layout: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
    const seen = new Set<string>();
    let off = 0;
    for await (const t of tensors) {
      checkSource(t);
      if (seen.has(t.name) || t.name === '__metadata__')
        throw new TypeError(`duplicate or reserved tensor name '${t.name}'`);
      seen.add(t.name);
      const data = await sourceBytes(t);
      for (let done = 0; done < data.byteLength;) {
        const { bytesWritten } = await fh.write(
          data,
          done,
          Math.min(1 << 30, data.byteLength - done),
          off + done,
        );
        done += bytesWritten;
      }
      layout.push({
        name: t.name,
        dtype: t.dtype,
        shape: [...t.shape],
        begin: off,
        end: off + data.byteLength,
      });
      off += data.byteLength;
    }
    await atomicWriteFile(path, async (w) => {
      await w.write(encodeHeader(layout, metadata));
      await copyRange(fh, 0, off, w);
    });
  } finally {
    await fh.close();
    await fsp.rm(spill, { force: true });
  }
}

async function copyRange(src: fsp.FileHandle, start: number, length: number, w: FileWriter): Promise<void> {
  const chunk = Buffer.allocUnsafeSlow(Math.min(length, 16 << 20));
  for (let done = 0; done < length;) {
    const { bytesRead } = await src.read(chunk, 0, Math.min(chunk.byteLength, length - done), start + done);
    if (bytesRead === 0) throw new Error('spill file ended early');
    await w.write(chunk.subarray(0, bytesRead));
    done += bytesRead;
  }
}
