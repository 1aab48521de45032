/** File helpers of the data layer: streaming lines, buffered writes, atomic replace, sorted walks. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import zlib from 'node:zlib';

/** Lines of a (possibly .gz) text file, streamed; `\r\n` endings are handled by readline. */
export async function* readLines(file: string): AsyncGenerator<string> {
  const raw = fs.createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw;
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    raw.destroy();
  }
}

/** Write `data` to `file` through a temporary name, so readers never see a half-written file. */
export function atomicWriteFile(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

export function writeJson(file: string, value: unknown): void {
  atomicWriteFile(file, JSON.stringify(value, null, 2) + '\n');
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/**
 * Appends to a temporary file with a large buffer and synchronous writes (simple and fast for one
 * producer); `commit()` renames it into place, `abort()` deletes it.
 */
export class BufferedWriter {
  private readonly fd: number;
  private readonly tmp: string;
  private chunks: (string | Uint8Array)[] = [];
  private pending = 0;
  private readonly hash = crypto.createHash('sha256');
  bytes = 0;

  constructor(
    readonly file: string,
    private readonly flushAt = 1 << 20,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.tmp = `${file}.tmp`;
    this.fd = fs.openSync(this.tmp, 'w');
  }

  write(data: string | Uint8Array): void {
    const n = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    this.chunks.push(data);
    this.hash.update(data);
    this.pending += n;
    this.bytes += n;
    if (this.pending >= this.flushAt) this.flush();
  }

  private flush(): void {
    if (!this.chunks.length) return;
    const bufs = this.chunks.map((c) =>
      typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength),
    );
    fs.writeSync(this.fd, Buffer.concat(bufs));
    this.chunks = [];
    this.pending = 0;
  }

  /** Flush, close and move into place; returns the SHA-256 (hex) of everything written. */
  commit(): string {
    this.flush();
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
    return this.hash.digest('hex');
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Files under `root` (or `root` itself), sorted by path so every walk is deterministic. */
export function listFiles(root: string, accept: (file: string) => boolean): string[] {
  const st = fs.statSync(root);
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = (dir: string): void => {
    const entries = fs
      .readdirSync(dir, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      // Hidden folders and installed dependencies are never part of a user's corpus.
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && accept(p)) out.push(p);
    }
  };
  walk(root);
  return out;
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
