// The kernel calls of a group of quantized weights sharing an input (q/k/v, gate/up): which weights go
// into one qmatmul call, with the arrays that call takes, kept per group so a token does not rebuild them.

import { QMATMUL_MAX_WEIGHTS } from '../backends/quant.js';
import { isSymmetric, type QWeight } from './qweight.js';

function samePerm(a: Int32Array | null, b: Int32Array | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One kernel call's weights: what qmatmul takes besides the activations and the output. */
export interface QRun {
  bits: number;
  perm: Int32Array | null;
  codes: Uint8Array[];
  scales: Uint16Array[];
  zeros: Uint8Array[];
  ns: number[];
  total: number;
  /** Bit i: weight i is symmetric (isSymmetric), so the decode GEMV need not read its zeros. */
  sym: number;
}

/**
 * The kernel calls for weights sharing an input: runs of equal bits and perm (at most
 * QMATMUL_MAX_WEIGHTS each) when `fuse`, else one weight per call. Depends on the weights only, so a
 * runner keeps it per group of modules instead of rebuilding its arrays on every token.
 */
export function planRuns(ws: readonly QWeight[], fuse: boolean): QRun[] {
  const runs: QRun[] = [];
  for (let i = 0; i < ws.length;) {
    let j = i + 1;
    while (
      fuse &&
      j < ws.length &&
      j - i < QMATMUL_MAX_WEIGHTS &&
      ws[j].bits === ws[i].bits &&
      samePerm(ws[j].perm, ws[i].perm)
    )
      j++;
    const run = ws.slice(i, j);
    const ns = run.map((w) => w.out);
    runs.push({
      bits: run[0].bits,
      perm: run[0].perm,
      codes: run.map((w) => w.codes),
      scales: run.map((w) => w.scales),
      zeros: run.map((w) => w.zeros),
      ns,
      total: ns.reduce((a, b) => a + b, 0),
      sym: run.reduce((m, w, k) => m | (isSymmetric(w) ? 1 << k : 0), 0),
    });
    i = j;
  }
  return runs;
}

/** Both plans of one group of weights (decode-sized and prefill-sized inputs), built when first asked. */
export class QPlan {
  private fused: QRun[] | null = null;
  private separate: QRun[] | null = null;

  constructor(readonly ws: readonly QWeight[]) {}

  runs(fuse: boolean): QRun[] {
    if (fuse) return (this.fused ??= planRuns(this.ws, true));
    return (this.separate ??= planRuns(this.ws, false));
  }
}
