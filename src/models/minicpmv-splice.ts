/**
 * The image splice (SPEC.md §10): each `<image>` (101) … `</image>` (102) span of the ids holds exactly
 * query_num placeholder rows, which are replaced by one image's resampler output (not scaled by
 * scale_emb); text rows keep their scaled embeddings.
 */
import { concat, reshape, slice, type Tensor } from '../tensor/index.js';
import { IMAGE_END_ID, IMAGE_START_ID } from './minicpmv-config.js';

export class ImageSpanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageSpanError';
  }
}

/** Index of the first placeholder of every span in `ids`, in order; throws on malformed spans. */
export function imageSpans(ids: ArrayLike<number>, queryNum: number): number[] {
  const starts: number[] = [];
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] === IMAGE_END_ID)
      throw new ImageSpanError(`</image> (id ${IMAGE_END_ID}) at position ${t} has no <image> before it`);
    if (ids[t] !== IMAGE_START_ID) continue;
    let end = t + 1;
    while (end < ids.length && ids[end] !== IMAGE_END_ID && ids[end] !== IMAGE_START_ID) end++;
    if (end >= ids.length || ids[end] !== IMAGE_END_ID)
      throw new ImageSpanError(
        `<image> (id ${IMAGE_START_ID}) at position ${t} is not closed by </image> (id ${IMAGE_END_ID})`,
      );
    const held = end - t - 1;
    if (held !== queryNum) {
      throw new ImageSpanError(
        `the image span at position ${t} holds ${held} ids but the model takes exactly ${queryNum} ` +
          `(query_num): put ${queryNum} placeholder ids between <image> and </image>`,
      );
    }
    starts.push(t + 1);
    t = end;
  }
  return starts;
}

/**
 * embeds [B, T, E] with each row's spans (found in ids [B, T]) replaced by that row's images, each
 * [query_num, E] (or [1, query_num, E]). Differentiable in both the embeddings and the images.
 */
export function spliceImages(
  embeds: Tensor,
  ids: ArrayLike<number>,
  images: Tensor[][],
  queryNum: number,
): Tensor {
  const [B, T, E] = embeds.shape;
  if (images.length !== B) throw new ImageSpanError(`${images.length} image lists for a batch of ${B} rows`);
  const rows: Tensor[] = [];
  for (let b = 0; b < B; b++) {
    const rowIds = Array.prototype.slice.call(ids, b * T, (b + 1) * T) as number[];
    const starts = imageSpans(rowIds, queryNum);
    if (starts.length !== images[b].length) {
      throw new ImageSpanError(
        `the prompt has ${starts.length} image span(s) but ${images[b].length} image(s) were given: ` +
          'give one image per <image>…</image> span, in order',
      );
    }
    const row = reshape(slice(embeds, 0, b, b + 1), [T, E]);
    if (starts.length === 0) {
      rows.push(row);
      continue;
    }
    const parts: Tensor[] = [];
    let at = 0;
    starts.forEach((s, i) => {
      if (s > at) parts.push(slice(row, 0, at, s));
      parts.push(reshape(images[b][i], [queryNum, E]));
      at = s + queryNum;
    });
    if (at < T) parts.push(slice(row, 0, at, T));
    rows.push(concat(parts, 0));
  }
  return rows.length === 1 ? reshape(rows[0], [1, T, E]) : reshape(concat(rows, 0), [B, T, E]);
}

/** An image of a prompt: `tokens` [1, query_num, E] fill prompt positions start … start + query_num − 1. */
export interface PromptImage {
  start: number;
  tokens: Tensor;
}

/** Rows [row, row + count) of a packed embedding [1, N, E] taken from rows [from, from + count) of `tokens`. */
export interface EmbedRows {
  row: number;
  tokens: Tensor;
  from: number;
  count: number;
}

/** The prompt images a packed pass must splice: the chunk is prompt positions [pos, pos + n) at row `at`. */
export function chunkImageRows(
  images: readonly PromptImage[],
  pos: number,
  n: number,
  at: number,
): EmbedRows[] {
  const out: EmbedRows[] = [];
  for (const im of images) {
    const q = im.tokens.shape[im.tokens.shape.length - 2];
    const a = Math.max(im.start, pos);
    const b = Math.min(im.start + q, pos + n);
    if (a < b) out.push({ row: at + a - pos, tokens: im.tokens, from: a - im.start, count: b - a });
  }
  return out;
}

/** embeds [1, N, E] with `rows` (disjoint) replaced by image token rows (not differentiated through). */
export function overwriteRows(embeds: Tensor, rows: readonly EmbedRows[]): Tensor {
  const [B, N, E] = embeds.shape;
  if (B !== 1) throw new ImageSpanError(`packed image rows need a [1, N, E] embedding, got batch ${B}`);
  const sorted = [...rows].sort((x, y) => x.row - y.row);
  const parts: Tensor[] = [];
  let at = 0;
  for (const r of sorted) {
    if (r.row < at || r.row + r.count > N)
      throw new ImageSpanError(`image rows [${r.row}, ${r.row + r.count}) overlap or leave the ${N} rows`);
    if (r.row > at) parts.push(slice(embeds, 1, at, r.row));
    const E2 = r.tokens.shape[r.tokens.shape.length - 1];
    if (E2 !== E) throw new ImageSpanError(`image tokens are ${E2} wide but the embedding is ${E}`);
    const t = reshape(r.tokens, [1, -1, E]);
    parts.push(slice(t, 1, r.from, r.from + r.count));
    at = r.row + r.count;
  }
  if (at < N) parts.push(slice(embeds, 1, at, N));
  return parts.length === 1 ? parts[0] : concat(parts, 1);
}
