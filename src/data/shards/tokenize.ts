/**
 * One built source split → token shards. Documents are encoded in file order as BOS + ids + EOS and
 * appended to the current shard, which is written once it holds `shardTokens` (always at a document
 * boundary, so shard contents depend only on the documents, not on when the run was interrupted). After
 * each shard a progress file records how many documents are done; an interrupted run resumes there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InterruptedError, ShardError } from '../errors.js';
import { atomicWriteFile, readJson, writeJson } from '../fs-util.js';
import { readDocs, type SourceManifest } from '../manifest.js';
import { Progress } from '../progress.js';
import type { Split } from '../split.js';
import type { Log, TextEncoder } from '../types.js';
import { shardPath, type ShardFile, type SplitShards, type TokenDtype } from './format.js';

interface SplitProgress {
  docsFingerprint: string;
  tokenizer: string;
  shardTokens: number;
  docsDone: number;
  textBytes: number;
  shards: ShardFile[];
}

class TokenBuffer {
  data: Uint16Array | Uint32Array;
  length = 0;
  docs = 0;

  constructor(private readonly dtype: TokenDtype) {
    this.data = dtype === 'uint16' ? new Uint16Array(1 << 16) : new Uint32Array(1 << 16);
  }

  push(ids: number[]): void {
    if (this.length + ids.length > this.data.length) {
      const bigger =
        this.dtype === 'uint16'
          ? new Uint16Array(Math.max(this.data.length * 2, this.length + ids.length))
          : new Uint32Array(Math.max(this.data.length * 2, this.length + ids.length));
      bigger.set(this.data.subarray(0, this.length));
      this.data = bigger;
    }
    this.data.set(ids, this.length);
    this.length += ids.length;
    this.docs++;
  }

  bytes(): Uint8Array {
    const d = this.data.subarray(0, this.length);
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }

  clear(): void {
    this.length = 0;
    this.docs = 0;
  }
}

export interface TokenizeSplitOptions {
  outDir: string;
  docsDir: string;
  source: SourceManifest;
  docsFingerprint: string;
  split: Split;
  encoder: TextEncoder;
  tokenizerFingerprint: string;
  dtype: TokenDtype;
  shardTokens: number;
  log: Log;
  signal?: AbortSignal;
}

export async function tokenizeSplit(o: TokenizeSplitOptions): Promise<SplitShards> {
  const { encoder, split, source } = o;
  const progressFile = path.join(o.outDir, 'shards', source.name, `${split}.progress.json`);
  const fresh: SplitProgress = {
    docsFingerprint: o.docsFingerprint,
    tokenizer: o.tokenizerFingerprint,
    shardTokens: o.shardTokens,
    docsDone: 0,
    textBytes: 0,
    shards: [],
  };
  let state = fresh;
  if (fs.existsSync(progressFile)) {
    const saved = readJson<SplitProgress>(progressFile);
    const same =
      saved.docsFingerprint === o.docsFingerprint &&
      saved.tokenizer === o.tokenizerFingerprint &&
      saved.shardTokens === o.shardTokens;
    if (same && saved.shards.every((s) => fs.existsSync(path.join(o.outDir, s.file)))) state = saved;
  }
  if (state === fresh) {
    // Shards of an older, different run must not linger next to the new ones.
    const dir = path.join(o.outDir, 'shards', source.name);
    if (fs.existsSync(dir))
      for (const f of fs.readdirSync(dir))
        if (f.startsWith(`${split}-`) && f.endsWith('.bin')) fs.rmSync(path.join(dir, f));
  }
  if (state.docsDone)
    o.log(
      `[${source.name}/${split}] resuming after ${state.docsDone} documents (${state.shards.length} shards)`,
    );
  const buffer = new TokenBuffer(o.dtype);
  const progress = new Progress(`${source.name}/${split}`, o.log, source[split].bytes);
  progress.tick(state.textBytes);
  let tokens = state.shards.reduce((a, s) => a + s.tokens, 0);
  const flush = (): void => {
    const file = shardPath(o.outDir, source.name, split, state.shards.length);
    atomicWriteFile(path.join(o.outDir, file), buffer.bytes());
    state.shards.push({ file, tokens: buffer.length, docs: buffer.docs });
    buffer.clear();
    writeJson(progressFile, state);
  };
  const start = Date.now();
  let index = 0;
  for await (const doc of readDocs(o.docsDir, source, split)) {
    if (index++ < state.docsDone) continue;
    if (o.signal?.aborted)
      throw new InterruptedError(
        `interrupted while tokenizing ${source.name}/${split}; run the same command again to resume`,
      );
    const ids = encoder.encode(doc.text);
    for (const id of ids) {
      if (!(id >= 0 && id < encoder.vocabSize) || !Number.isInteger(id)) {
        throw new ShardError(
          `the tokenizer returned id ${id} for ${source.name}:${doc.id}, outside its vocabulary of ${encoder.vocabSize}; the tokenizer is inconsistent`,
        );
      }
    }
    buffer.push([encoder.bosId, ...ids, encoder.eosId]);
    tokens += ids.length + 2;
    const bytes = Buffer.byteLength(doc.text);
    state.docsDone++;
    state.textBytes += bytes;
    if (buffer.length >= o.shardTokens) flush();
    progress.tick(
      bytes,
      () => `${(tokens / Math.max((Date.now() - start) / 1000, 1e-3) / 1000).toFixed(1)}k tok/s`,
    );
  }
  if (buffer.length) flush();
  fs.rmSync(progressFile, { force: true });
  progress.done(`${tokens} tokens in ${state.shards.length} shards`);
  return { docs: state.docsDone, tokens, textBytes: state.textBytes, shards: state.shards };
}
