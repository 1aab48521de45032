/**
 * SFT data with images (SPEC §10, training): records {"messages": […], "images": ["a.png", …]} whose
 * user turns hold one `<image>` marker per image, in order, with image paths relative to the data file.
 * Rendering is MiniCPM-V 1.0's prompt format: MiniCPM's `<用户>…<AI>…` turns with each marker expanded
 * to `<image>` (id 101), query_num `<unk>` placeholders and `</image>` (id 102), which the model's
 * splice fills with the image's resampler output. Batches carry each row's image indices in `extra`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { IMAGE_END_ID, IMAGE_START_ID } from '../models/minicpmv-config.js';
import type { ChatMessage, RenderedChat, Tokenizer } from '../tokenizer/index.js';
import type { Batch } from '../train/batches.js';
import { AlignError } from './errors.js';
import { padBatch, ShuffledBatches, supervisedCount, type Example } from './examples.js';
import { readConversations, readRecords } from './records.js';

export const IMAGE_MARKER = '<image>';

export interface ImageConversation {
  messages: ChatMessage[];
  /** Absolute image paths, one per marker, in order. */
  images: string[];
}

/** Conversations with their images; checks that markers and images agree and that the files exist. */
export function readImageConversations(file: string): ImageConversation[] {
  const conversations = readConversations(file);
  const base = path.dirname(path.resolve(file));
  return readRecords(file).map(({ line, value }, i) => {
    const where = `${file}:${line}`;
    const raw = (value as { images?: unknown }).images ?? [];
    if (!Array.isArray(raw) || raw.some((p) => typeof p !== 'string'))
      throw new AlignError(`${where}: "images" must be a list of image paths (relative to the data file)`);
    const { messages } = conversations[i];
    let markers = 0;
    for (const m of messages) {
      const n = m.content.split(IMAGE_MARKER).length - 1;
      if (n && m.role !== 'user')
        throw new AlignError(
          `${where}: ${IMAGE_MARKER} markers belong in user messages, not in a ${m.role} message`,
        );
      markers += n;
    }
    if (markers !== raw.length)
      throw new AlignError(
        `${where}: the user messages hold ${markers} ${IMAGE_MARKER} marker(s) but "images" lists ${raw.length} image(s): put one marker where each image goes`,
      );
    const images = (raw as string[]).map((p) => path.resolve(base, p));
    for (const p of images)
      if (!fs.existsSync(p)) throw new AlignError(`${where}: image ${p} does not exist`);
    return { messages, images };
  });
}

/**
 * MiniCPM's chat rendering (tokenizer/chat.ts renderMiniCpmChat: each part tokenized alone, contents
 * trimmed, loss on assistant tokens and the closing EOS) with image markers expanded to spans.
 */
export function renderImageChat(
  tok: Tokenizer,
  messages: ChatMessage[],
  queryNum: number,
  o: { addGenerationPrompt?: boolean } = {},
): RenderedChat {
  const ids: number[] = [tok.bosId];
  const mask: number[] = [0];
  const push = (part: number[], m: number) => {
    for (const id of part) {
      if (id === IMAGE_START_ID || id === IMAGE_END_ID)
        throw new AlignError(
          `the tokenizer encodes text to id ${id}, which MiniCPM-V reserves for image spans: use a tokenizer whose ids ${IMAGE_START_ID} and ${IMAGE_END_ID} are <image> and </image>, or remove those characters from the text`,
        );
      ids.push(id);
      mask.push(m);
    }
  };
  const span = [IMAGE_START_ID, ...new Array<number>(queryNum).fill(tok.unkId), IMAGE_END_ID];
  for (const m of messages) {
    if (m.role === 'system') push(tok.encode(m.content.trim()), 0);
    else if (m.role === 'assistant') {
      push(tok.encode('<AI>'), 0);
      push(tok.encode(m.content.trim()), 1);
    } else {
      push(tok.encode('<用户>'), 0);
      m.content
        .trim()
        .split(IMAGE_MARKER)
        .forEach((text, i) => {
          if (i > 0) {
            ids.push(...span);
            mask.push(...span.map(() => 0));
          }
          if (text) push(tok.encode(text), 0);
        });
    }
  }
  if (o.addGenerationPrompt) push(tok.encode('<AI>'), 0);
  else {
    ids.push(tok.eosId);
    mask.push(1);
  }
  return { ids, mask };
}

/** A rendered example and the indices (into the image list) of its images. */
export interface ImageExample extends Example {
  images: number[];
}

export interface ImageSftExamples {
  examples: ImageExample[];
  /** Every distinct image path; examples refer to them by index. */
  imagePaths: string[];
  clipped: number;
  /** Conversations with no supervised token within the limit, or an image span cut by it. */
  dropped: number;
  supervisedTokens: number;
}

/** Renders and clips conversations; image paths are shared across examples (each image decoded once). */
export function imageSftExamples(
  tok: Tokenizer,
  conversations: readonly ImageConversation[],
  queryNum: number,
  seqLen: number,
  imagePaths: string[] = [],
): ImageSftExamples {
  const index = new Map(imagePaths.map((p, i) => [p, i]));
  const out: ImageSftExamples = { examples: [], imagePaths, clipped: 0, dropped: 0, supervisedTokens: 0 };
  for (const c of conversations) {
    const { ids, mask } = renderImageChat(tok, c.messages, queryNum);
    const n = Math.min(ids.length, seqLen + 1);
    // the inputs are ids[0..n−2]: every span must end inside them, or the row would hold a cut span
    const lastEnd = ids.lastIndexOf(IMAGE_END_ID);
    const m = Uint8Array.from(mask.slice(0, n));
    if (n < 2 || lastEnd > n - 2 || !m.subarray(1).some((x) => x === 1)) {
      out.dropped++;
      continue;
    }
    if (n < ids.length) out.clipped++;
    const images = c.images.map((p) => {
      let i = index.get(p);
      if (i === undefined) {
        i = imagePaths.push(p) - 1;
        index.set(p, i);
      }
      return i;
    });
    const e: ImageExample = { ids: Int32Array.from(ids.slice(0, n)), mask: m, images };
    out.examples.push(e);
    out.supervisedTokens += supervisedCount(e);
  }
  return out;
}

/** padBatch plus `extra.images` (every row's image indices, concatenated) and `extra.imageCounts`. */
export function imageBatch(rows: readonly ImageExample[], padId: number): Batch {
  const b = padBatch(rows, padId);
  return {
    ...b,
    extra: {
      images: Float64Array.from(rows.flatMap((r) => r.images)),
      imageCounts: Float64Array.from(rows.map((r) => r.images.length)),
    },
  };
}

/** Each row's image indices from a batch made by imageBatch. */
export function batchImages(batch: Batch): number[][] {
  const flat = batch.extra?.images;
  const counts = batch.extra?.imageCounts;
  if (!flat || !counts) throw new AlignError('this batch carries no images (it was not made by imageBatch)');
  const out: number[][] = [];
  let at = 0;
  for (const n of counts) {
    out.push(Array.from(flat.subarray(at, at + n)));
    at += n;
  }
  return out;
}

/** Shuffled image batches, epoch after epoch (the cursor is the number of examples consumed). */
export class ImageSftBatches extends ShuffledBatches {
  constructor(
    private readonly examples: readonly ImageExample[],
    batchSize: number,
    seed: number,
    private readonly padId: number,
  ) {
    super(examples.length, batchSize, seed, 'an SFT');
  }

  next(): Batch {
    return imageBatch(
      this.take().map((i) => this.examples[i]),
      this.padId,
    );
  }
}

/** Held-out examples in file order, each once, cut into batches (a fixed validation set). */
export function heldOutImageBatches(
  examples: readonly ImageExample[],
  batchSize: number,
  padId: number,
  maxBatches = 0,
): Batch[] {
  if (!examples.length) throw new AlignError('the evaluation data holds no usable example');
  const out: Batch[] = [];
  for (let i = 0; i < examples.length && (maxBatches <= 0 || out.length < maxBatches); i += batchSize)
    out.push(imageBatch(examples.slice(i, i + batchSize), padId));
  return out;
}
