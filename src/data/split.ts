/**
 * Held-out validation split. A document goes to validation when a hash of its text falls under the
 * source's fraction: deterministic, independent of order, and stable when a build is resumed.
 */
import { exactKey } from './dedup/dedup.js';
import { hashString } from './random.js';

export type Split = 'train' | 'val';

export function isValidation(text: string, fraction: number): boolean {
  return hashString(exactKey(text), 0x5eed) / 0x100000000 < fraction;
}

/**
 * Streams documents to train/val and guarantees a non-empty validation set for any source of two or more
 * documents: the last train document is held back and goes to validation if none was chosen by hash.
 */
export class SplitRouter<T> {
  private held: T | undefined;
  counts = { train: 0, val: 0 };

  constructor(
    private readonly fraction: number,
    private readonly emit: (split: Split, item: T) => void,
  ) {}

  push(text: string, item: T): void {
    if (this.fraction > 0 && isValidation(text, this.fraction)) return this.out('val', item);
    if (this.held !== undefined) this.out('train', this.held);
    this.held = item;
  }

  finish(): void {
    if (this.held === undefined) return;
    this.out(
      this.counts.val === 0 && this.counts.train > 0 && this.fraction > 0 ? 'val' : 'train',
      this.held,
    );
    this.held = undefined;
  }

  private out(split: Split, item: T): void {
    this.counts[split]++;
    this.emit(split, item);
  }
}
