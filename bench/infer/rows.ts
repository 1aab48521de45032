/**
 * The infer bench's result rows: medians over passes of ours and llama.cpp per row kind, as ratios and as
 * fractions of a limit (prefill: the FLOP peak; decode: the bandwidth bound of the bytes read per token,
 * the weights and the KV cache the attention streams, at 55 GB/s and at the DRAM read bandwidth probed
 * around each pass; also of the weights alone, as the rows counted before), and the printed table.
 */
import { median } from '../lib/machine.js';
import type { DecodeBytes } from './shape.js';

/** Row kinds: float weights, and our W4 / W8 against llama.cpp's Q4_0 / Q8_0. */
export type Dt = 'f32' | 'bf16' | 'q4' | 'q8';

/** An idle machine's DRAM read bandwidth, the fixed bound of the decode rows. */
export const BANDWIDTH = 55e9;
const PEAK_F32 = 400e9;
const PEAK_BF16 = 800e9;

const DT_NOTE: Record<Dt, string> = {
  f32: '',
  bf16: 'bf16 weights; ',
  q4: 'ours W4 g32 (AutoGPTQ folder, RTN) + int8 head vs llama.cpp Q4_0 (head Q8_0); ',
  q8: 'ours W8 (symmetric per 32) + int8 head vs llama.cpp Q8_0; ',
};

export interface Row {
  name: string;
  unit: string;
  ours: number | null;
  peer: string;
  peer_value: number | null;
  ratio: number | null;
  limit_fraction: number | null;
  limit_fraction_measured?: number | null;
  /** Decode rows: the fraction of the measured bound counting the weight bytes only. */
  limit_fraction_measured_weights?: number | null;
  peer_limit_fraction?: number | null;
  peer_limit_fraction_measured?: number | null;
  spread?: Record<string, number[]>;
  bytes_per_token?: { ours: DecodeBytes; peer: DecodeBytes };
  note?: string;
}

/** Seconds per pass. */
export interface Series {
  prefill: number[];
  decode: number[];
}

export function series(): Series {
  return { prefill: [], decode: [] };
}

/** Everything the rows are computed from. */
export interface Measured {
  nPrompt: number;
  nDecode: number;
  kvCache: string;
  peerName: string;
  prefillFlops: number;
  ours: Record<Dt, Series>;
  peer: Record<Dt, Series>;
  /** DRAM read bytes/s probed around each pass's decode. */
  bandwidth: Record<Dt, number[]>;
  /** Weight bytes one decoded token reads: ours, and llama.cpp's where its file differs (quantized rows). */
  bytes: (dt: Dt) => { ours: DecodeBytes; peer: DecodeBytes };
  /** KV cache bytes one decoded token reads, mean over the decode (shape.ts kvDecodeBytes). */
  kvBytes: { ours: number; peer: number };
}

function fmtRatio(a: number | null, b: number | null): string {
  return a !== null && b ? `${(a / b).toFixed(2)}x` : '—';
}

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
const total = (b: DecodeBytes) => b.layers + b.head;
const gb = (n: number) => `${(n / 1e9).toFixed(3)} GB`;

/** A decode row: tok/s medians, and the bound both at 55 GB/s and at the bandwidth measured alongside. */
export function decodeRow(m: Measured, dt: Dt): Row {
  const { nDecode } = m;
  const tokps = (xs: number[]) => (xs.length ? nDecode / median(xs) : null);
  const mine = m.ours[dt];
  const both = m.bytes(dt);
  const weights = total(both.ours);
  const bytes = weights + m.kvBytes.ours;
  const peerBytes = total(both.peer) + m.kvBytes.peer;
  const ours = tokps(mine.decode);
  const peerValue = tokps(m.peer[dt].decode);
  // per pass: the bytes/s decode reached over the read bandwidth probed around it
  const measured = (xs: number[], b: number) =>
    xs.length && m.bandwidth[dt].length === xs.length
      ? median(xs.map((s, i) => ((nDecode / s) * b) / m.bandwidth[dt][i]))
      : null;
  const quant = dt === 'q4' || dt === 'q8';
  return {
    name: `decode ${nDecode} ${dt}`,
    unit: 'tok/s',
    ours,
    peer: m.peerName,
    peer_value: peerValue,
    ratio: ratio(ours, peerValue),
    limit_fraction: ours !== null ? (ours * bytes) / BANDWIDTH : null,
    limit_fraction_measured: measured(mine.decode, bytes),
    limit_fraction_measured_weights: measured(mine.decode, weights),
    peer_limit_fraction: peerValue !== null ? (peerValue * peerBytes) / BANDWIDTH : null,
    peer_limit_fraction_measured: measured(m.peer[dt].decode, peerBytes),
    spread: {
      ours_tok_s: mine.decode.map((s) => nDecode / s),
      peer_tok_s: m.peer[dt].decode.map((s) => nDecode / s),
      dram_read_GBps: m.bandwidth[dt].map((b) => b / 1e9),
    },
    ...(quant ? { bytes_per_token: both } : {}),
    note:
      `${DT_NOTE[dt]}KV cache: ours ${m.kvCache}, llama.cpp f16; ` +
      `${(weights / 1e9).toFixed(3)} GB of weights and ${(m.kvBytes.ours / 1e9).toFixed(3)} GB of KV cache ` +
      `(llama.cpp ${(m.kvBytes.peer / 1e9).toFixed(3)}) read per token; bound ` +
      `${(BANDWIDTH / bytes).toFixed(1)} tok/s at 55 GB/s (idle machine); *_measured: against the 2-thread ` +
      `DRAM read bandwidth probed before and after each pass's decode (bench/peers/limits.c, best of 5 reads), ` +
      `median over passes; *_weights: the weight bytes alone` +
      (quant
        ? `; bytes per token, ours: layers ${gb(both.ours.layers)} (` +
          (dt === 'q4'
            ? 'W4 codes, fp16 scales, u8 zeros'
            : 'W8 codes and fp16 scales: symmetric, zeros unread') +
          `) + head ${gb(both.ours.head)} (int8 W8 rows, codes and fp16 scales: symmetric, zeros unread); llama.cpp: layers ` +
          `${gb(both.peer.layers)} (${dt === 'q4' ? 'Q4_0' : 'Q8_0'}) + head ${gb(both.peer.head)} (Q8_0); ` +
          `both heads 8-bit per 32 with an fp16 scale; each side's fraction of the bound uses its own bytes`
        : ''),
  };
}

export function prefillRow(m: Measured, dt: Dt): Row {
  const gflops = (xs: number[]) => (xs.length ? m.prefillFlops / median(xs) / 1e9 : null);
  const mine = m.ours[dt];
  const peak = dt === 'f32' ? PEAK_F32 : PEAK_BF16;
  const ours = gflops(mine.prefill);
  const peerValue = gflops(m.peer[dt].prefill);
  return {
    name: `prefill ${m.nPrompt} ${dt}`,
    unit: 'GFLOP/s',
    ours,
    peer: m.peerName,
    peer_value: peerValue,
    ratio: ratio(ours, peerValue),
    limit_fraction: ours !== null ? (ours * 1e9) / peak : null,
    peer_limit_fraction: peerValue !== null ? (peerValue * 1e9) / peak : null,
    spread: { ours_s: mine.prefill, peer_s: m.peer[dt].prefill },
    note:
      dt === 'f32'
        ? `${(m.prefillFlops / 1e9).toFixed(0)} GFLOP per prefill (last-position logits); limit 400 GFLOP/s fp32 (2 cores)`
        : dt === 'bf16'
          ? 'bf16 weights, f32 activations (vdpbf16ps GEMMs); limit 800 GFLOP/s bf16 (2 cores)'
          : `${DT_NOTE[dt]}int8 activations per 32 (vpdpbusd); limit shown against 800 GFLOP/s; ` +
            `ours / our bf16 prefill: ${fmtRatio(gflops(mine.prefill), gflops(m.ours.bf16.prefill))}`,
  };
}

export function printTable(rows: readonly Row[]): void {
  const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
  console.log(
    '\n| row | unit | ours | llama.cpp | ratio | ours / limit | llama.cpp / limit | ours / measured DRAM | llama.cpp / measured DRAM | ours, weights only |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cells = [r.ours, r.peer_value, r.ratio, r.limit_fraction, r.peer_limit_fraction ?? null];
    const dram = [
      r.limit_fraction_measured ?? null,
      r.peer_limit_fraction_measured ?? null,
      r.limit_fraction_measured_weights ?? null,
    ];
    console.log(`| ${r.name} | ${r.unit} | ${[...cells, ...dram].map((x) => fmt(x)).join(' | ')} |`);
  }
  for (const r of rows) {
    const b = r.bytes_per_token;
    if (!b) continue;
    const sum = (x: DecodeBytes) => ((x.layers + x.head) / 1e9).toFixed(3);
    console.log(
      `${r.name} bytes per token: ours ${sum(b.ours)} GB (layers ${(b.ours.layers / 1e9).toFixed(3)}, int8 head ` +
        `${(b.ours.head / 1e9).toFixed(3)}), llama.cpp ${sum(b.peer)} GB (layers ${(b.peer.layers / 1e9).toFixed(3)}, ` +
        `Q8_0 head ${(b.peer.head / 1e9).toFixed(3)}): the same 8-bit head on both sides`,
    );
  }
}
