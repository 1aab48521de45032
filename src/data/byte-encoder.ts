/**
 * The smallest real tokenizer: UTF-8 bytes shifted by 3 (0 pad/unk, 1 BOS, 2 EOS), vocabulary 259.
 * For tests and for trying the data pipeline before a tokenizer is trained (`--tokenizer bytes`).
 */
import type { TextEncoder } from './types.js';

export class ByteEncoder implements TextEncoder {
  readonly bosId = 1;
  readonly eosId = 2;
  readonly vocabSize = 259;

  encode(text: string): number[] {
    const bytes = Buffer.from(text, 'utf8');
    const ids = new Array<number>(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i] + 3;
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] >= 3) bytes.push(ids[i] - 3);
    return Buffer.from(bytes).toString('utf8');
  }
}
