// A minimal read-only zip reader for torch.save archives: central directory (with ZIP64, since
// checkpoints pass 4 GB), stored entries read by byte range straight from the file, deflated entries
// inflated whole with node:zlib. Nothing else of the zip format is needed here.

import * as fs from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { CheckpointFormatError } from './errors.js';
import { readAt, readAtSync } from './file-io.js';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;

export class ZipReader {
  private dataOffsets = new Map<string, number>();

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly size: number,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  /** Parse the central directory of the zip open on `fd` (the caller owns the fd). */
  static fromFd(path: string, fd: number): ZipReader {
    const size = fs.fstatSync(fd).size;
    return new ZipReader(path, fd, size, readCentralDirectory(path, fd, size));
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** Bytes [start, start+length) of an entry's uncompressed content. */
  async readRange(e: ZipEntry, start: number, length: number): Promise<Uint8Array> {
    this.checkRange(e, start, length);
    if (e.method === 0) return readAt(this.fd, this.dataOffset(e) + start, length, this.path);
    return this.inflate(await readAt(this.fd, this.dataOffset(e), e.compressedSize, this.path), e).subarray(
      start,
      start + length,
    );
  }

  readRangeSync(e: ZipEntry, start: number, length: number): Uint8Array {
    this.checkRange(e, start, length);
    if (e.method === 0) return readAtSync(this.fd, this.dataOffset(e) + start, length, this.path);
    return this.inflate(readAtSync(this.fd, this.dataOffset(e), e.compressedSize, this.path), e).subarray(
      start,
      start + length,
    );
  }

  readAllSync(e: ZipEntry): Uint8Array {
    return this.readRangeSync(e, 0, e.size);
  }

  private checkRange(e: ZipEntry, start: number, length: number): void {
    if (start < 0 || length < 0 || start + length > e.size) {
      throw new CheckpointFormatError(
        this.path,
        `zip entry '${e.name}' has ${e.size} bytes; bytes ${start}..${start + length} were requested`,
      );
    }
    if (e.method !== 0 && e.method !== 8) {
      throw new CheckpointFormatError(
        this.path,
        `zip entry '${e.name}' uses compression method ${e.method}; only stored and deflate are supported`,
      );
    }
  }

  private inflate(raw: Uint8Array, e: ZipEntry): Uint8Array {
    let out: Buffer;
    try {
      out = inflateRawSync(raw);
    } catch (err) {
      throw new CheckpointFormatError(
        this.path,
        `zip entry '${e.name}' is corrupted (${(err as Error).message})`,
      );
    }
    if (out.byteLength !== e.size) {
      throw new CheckpointFormatError(
        this.path,
        `zip entry '${e.name}' inflates to ${out.byteLength} bytes, not ${e.size}`,
      );
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** Where an entry's data begins: after its local header, whose extra field may differ from the central one. */
  private dataOffset(e: ZipEntry): number {
    let off = this.dataOffsets.get(e.name);
    if (off !== undefined) return off;
    if (e.localHeaderOffset + 30 > this.size)
      throw new CheckpointFormatError(this.path, `zip entry '${e.name}' points past the end of the file`);
    const h = readAtSync(this.fd, e.localHeaderOffset, 30, this.path);
    const v = new DataView(h.buffer, h.byteOffset, 30);
    if (v.getUint32(0, true) !== LFH_SIG)
      throw new CheckpointFormatError(this.path, `zip entry '${e.name}' has a bad local header`);
    off = e.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
    if (off + e.compressedSize > this.size) {
      throw new CheckpointFormatError(
        this.path,
        `zip entry '${e.name}' runs past the end of the file (truncated?)`,
      );
    }
    this.dataOffsets.set(e.name, off);
    return off;
  }
}

function u64(v: DataView, at: number, path: string): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER))
    throw new CheckpointFormatError(
      path,
      'not a valid zip archive: a zip64 size or offset exceeds 2^53 (corrupt file)',
    );
  return Number(n);
}

function readCentralDirectory(path: string, fd: number, size: number): Map<string, ZipEntry> {
  const bad = (msg: string) => new CheckpointFormatError(path, `not a valid zip archive: ${msg}`);
  // The end record sits in the last 22 + up to 65535 (comment) bytes.
  const tailLen = Math.min(size, 22 + 65535 + 20);
  const tail = readAtSync(fd, size - tailLen, tailLen, path);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record (truncated file?)');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === ZIP64_LOCATOR_SIG) {
    const recOff = u64(tv, eocd - 20 + 8, path);
    if (recOff + 56 > size) throw bad('ZIP64 end record points past the end of the file');
    const rec = readAtSync(fd, recOff, 56, path);
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw bad('bad ZIP64 end record');
    count = u64(rv, 32, path);
    cdSize = u64(rv, 40, path);
    cdOffset = u64(rv, 48, path);
  }
  if (cdOffset + cdSize > size) throw bad('the central directory runs past the end of the file (truncated?)');
  const cd = readAtSync(fd, cdOffset, cdSize, path);
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntry>();
  const dec = new TextDecoder();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== CDH_SIG)
      throw bad(`central directory entry ${i} is damaged`);
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let usize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize)
      throw bad(`central directory entry ${i} is damaged`);
    const name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field (id 1): 64-bit values for exactly those 32-bit fields that are 0xFFFFFFFF.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (usize === 0xffffffff) {
          usize = u64(v, q, path);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(v, q, path);
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(v, q, path);
      }
      x += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size: usize, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
