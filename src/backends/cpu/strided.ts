/** Walking strided views: an odometer over all dims but the last, with the last as the inner loop. */
export interface View {
  data: ArrayLike<number>;
  offset: number;
  strides: readonly number[];
}

/**
 * Calls `inner(offsets, n)` once per row of `shape`, where offsets[k] is the start of that row in
 * view k and each view advances by its own last-dim stride inside the row.
 */
export function forEachRow(
  shape: readonly number[],
  views: readonly { offset: number; strides: readonly number[] }[],
  inner: (offsets: number[], n: number) => void,
): void {
  const rank = shape.length;
  const offsets = views.map((v) => v.offset);
  if (rank === 0) {
    inner(offsets, 1);
    return;
  }
  for (const d of shape) if (d === 0) return;
  const n = shape[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  for (;;) {
    inner(offsets, n);
    let d = rank - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < views.length; k++) offsets[k] += views[k].strides[d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < views.length; k++) offsets[k] -= views[k].strides[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/** Strides of a broadcast view (size-1 and missing leading dims get stride 0). */
export function stridesFor(
  shape: readonly number[],
  strides: readonly number[],
  target: readonly number[],
): number[] {
  const out = new Array<number>(target.length).fill(0);
  const lead = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[lead + i] = shape[i] === 1 ? 0 : strides[i];
  return out;
}
