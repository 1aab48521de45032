// Positioned reads and atomic writes shared by the format readers and writers.
// Positions are plain numbers (exact up to 2^53), so files over 2 GiB work; a single read or write
// call is capped at 1 GiB because the OS and Node reject larger requests.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { CheckpointFormatError } from './errors.js';

const MAX_IO = 1 << 30;

/** Read exactly `length` bytes at `position` into a new buffer, or fail on a short file. */
export function readAtSync(fd: number, position: number, length: number, filePath: string): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(length); // own ArrayBuffer at offset 0: aligned, never pooled
  const out = new Uint8Array(buf.buffer, buf.byteOffset, length);
  readIntoSync(fd, position, out, filePath);
  return out;
}

/**
 * Fill `into` with the bytes at `position`, or fail on a short file: lets a caller read straight into
 * memory it chose (the tensor allocator's aligned, huge-page-backed buffers) without a second copy.
 */
export function readIntoSync(fd: number, position: number, into: Uint8Array, filePath: string): void {
  const length = into.byteLength;
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, into, done, Math.min(MAX_IO, length - done), position + done);
    if (n === 0)
      throw new CheckpointFormatError(
        filePath,
        `unexpected end of file at byte ${position + done} (truncated?)`,
      );
    done += n;
  }
}

function readPromise(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

export async function readAt(
  fd: number,
  position: number,
  length: number,
  filePath: string,
): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafeSlow(length); // own ArrayBuffer at offset 0: aligned, never pooled
  let done = 0;
  while (done < length) {
    const n = await readPromise(fd, buf, done, Math.min(MAX_IO, length - done), position + done);
    if (n === 0)
      throw new CheckpointFormatError(
        filePath,
        `unexpected end of file at byte ${position + done} (truncated?)`,
      );
    done += n;
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** Run a synchronous opener as a promise (a throw becomes a rejection), for async-style APIs. */
export function promised<T>(f: () => T): Promise<T> {
  return new Promise((resolve) => resolve(f()));
}

/** Sequential writer that tracks its position and batches small writes (headers) into one syscall. */
export class FileWriter {
  position = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(readonly fh: fsp.FileHandle) {}

  async write(data: Uint8Array): Promise<void> {
    if (data.byteLength < 64 * 1024) {
      this.pending.push(data.slice());
      this.pendingBytes += data.byteLength;
      this.position += data.byteLength;
      if (this.pendingBytes >= 1 << 20) await this.flush();
      return;
    }
    await this.flush();
    for (let off = 0; off < data.byteLength;) {
      const len = Math.min(MAX_IO, data.byteLength - off);
      const { bytesWritten } = await this.fh.write(data, off, len, this.position);
      off += bytesWritten;
      this.position += bytesWritten;
    }
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    const start = this.position - buf.byteLength;
    while (off < buf.byteLength) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.byteLength - off, start + off);
      off += bytesWritten;
    }
  }
}

/** A fresh name beside `target`, so that the final rename stays on one filesystem (and is atomic). */
export function tempSibling(target: string, tag = 'tmp'): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function fsyncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some filesystems refuse to fsync a directory, which is fine.
  try {
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    /* best effort */
  }
}

/**
 * Write `target` through `body` into a temp file in the same directory, fsync, then rename over the
 * target: a crash at any point leaves either the old file or the complete new one.
 */
export async function atomicWriteFile(target: string, body: (w: FileWriter) => Promise<void>): Promise<void> {
  const tmp = tempSibling(target);
  const fh = await fsp.open(tmp, 'wx');
  let ok = false;
  try {
    const w = new FileWriter(fh);
    await body(w);
    await w.flush();
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await fsp.rm(tmp, { force: true });
  }
  await fsp.rename(tmp, target);
  await fsyncDir(path.dirname(target));
}

/** Atomically write a small text file (JSON configs, indexes). */
export async function atomicWriteText(target: string, text: string): Promise<void> {
  await atomicWriteFile(target, (w) => w.write(new TextEncoder().encode(text)));
}
