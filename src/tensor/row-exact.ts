/**
 * Row-exact linears (continuous batching): inside `rowExact(fn)`, every x · Wᵀ over a dense f32 or
 * bf16 weight computes each row of x as its own GEMV — bitwise the result of running that row alone —
 * while the weights still stream from memory once for all rows (the backend's multi-row GEMV). So a
 * sequence decoded beside others gets exactly the logits it gets alone, with no padding rows.
 * Outside it, a batch of rows may take a faster kernel whose rounding depends on the row count.
 */
let depth = 0;

export function rowExact<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** Whether linears must keep each row's single-row GEMV result. */
export function isRowExact(): boolean {
  return depth > 0;
}
