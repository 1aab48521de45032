/** Human-readable summaries of a shard folder: tokens and documents per source, mixtures with epochs. */
import { epochReport, formatEpochReport } from './mixture.js';
import type { ShardIndex } from './shards/format.js';

export function shardSummary(idx: ShardIndex, budget?: number): string {
  const lines = [
    `tokenizer ${idx.tokenizer.path} (vocab ${idx.vocabSize}, ${idx.dtype}), ${Object.keys(idx.sources).length} sources`,
    '',
  ];
  lines.push('source               bucket        train docs  train tokens  val tokens  bytes/token  shards');
  let total = 0;
  for (const s of Object.values(idx.sources)) {
    total += s.train.tokens;
    const bpt = s.train.tokens ? s.train.textBytes / s.train.tokens : 0;
    lines.push(
      `${s.name.padEnd(20)} ${s.bucket.padEnd(13)} ${String(s.train.docs).padStart(10)} ${String(s.train.tokens).padStart(13)} ${String(s.val.tokens).padStart(11)} ${bpt.toFixed(2).padStart(12)} ${String(s.train.shards.length + s.val.shards.length).padStart(7)}`,
    );
  }
  lines.push(`total train tokens ${total}`);
  const available = Object.fromEntries(Object.values(idx.sources).map((s) => [s.name, s.train.tokens]));
  for (const [name, m] of Object.entries(idx.mixtures)) {
    const b = budget ?? m.tokens;
    lines.push(
      '',
      `mixture ${name} (phase ${m.phase})${b ? '' : ': pass --tokens N to see epochs per source'}`,
    );
    lines.push(formatEpochReport(epochReport(m.weights, available, b), b));
  }
  return lines.join('\n');
}
