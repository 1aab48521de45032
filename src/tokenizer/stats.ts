/** Compression statistics: bytes of UTF-8 text per token, the measure MiniCPM compares tokenizers by. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Tokenizer } from './types.js';

export interface CompressionStats {
  input: string;
  bytes: number;
  tokens: number;
  bytesPerToken: number;
  /** Share of tokens that are byte-fallback pieces or <unk> (text the vocabulary does not cover). */
  fallbackShare: number;
}

export async function compressionStats(tok: Tokenizer, file: string): Promise<CompressionStats> {
  let bytes = 0;
  let tokens = 0;
  let fallback = 0;
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let first = true;
  for await (const line of rl) {
    // Lines are encoded with their newline (except the first join point) so "\n" pieces are counted.
    const text = first ? line : '\n' + line;
    first = false;
    bytes += Buffer.byteLength(text);
    for (const id of tok.encode(text)) {
      tokens++;
      if (id === tok.unkId || /^<0x[0-9A-F]{2}>$/.test(tok.idToPiece(id))) fallback++;
    }
  }
  return {
    input: file,
    bytes,
    tokens,
    bytesPerToken: tokens ? bytes / tokens : 0,
    fallbackShare: tokens ? fallback / tokens : 0,
  };
}

/** A plain-text table: one row per input, one bytes/token column per tokenizer. */
export function statsTable(names: string[], rows: CompressionStats[][]): string {
  const header = [
    'input',
    'bytes',
    ...names.map((n) => `${n} bytes/token`),
    ...names.map((n) => `${n} tokens`),
  ];
  const body = rows.map((perTok) => [
    perTok[0].input,
    String(perTok[0].bytes),
    ...perTok.map((s) => s.bytesPerToken.toFixed(3)),
    ...perTok.map((s) => String(s.tokens)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
