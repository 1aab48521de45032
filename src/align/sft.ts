/**
 * Supervised fine-tuning data (SPEC §5.3, §7): conversations rendered in the model's chat format, loss on
 * assistant tokens and the closing EOS only, as a resumable batch source for the training loop.
 */
import type { Tokenizer } from '../tokenizer/index.js';
import type { Batch } from '../train/batches.js';
import { renderConversation, type ChatFormat } from './chat-format.js';
import { clipExample, padBatch, ShuffledBatches, supervisedCount, type Example } from './examples.js';
import type { Conversation } from './records.js';

export interface SftExamples {
  examples: Example[];
  /** Conversations cut to the sequence limit (still trained on). */
  clipped: number;
  /** Conversations with no supervised token within the limit (skipped). */
  dropped: number;
  supervisedTokens: number;
}

export function sftExamples(
  tok: Tokenizer,
  format: ChatFormat,
  conversations: readonly Conversation[],
  seqLen: number,
): SftExamples {
  const out: SftExamples = { examples: [], clipped: 0, dropped: 0, supervisedTokens: 0 };
  for (const c of conversations) {
    const { ids, mask } = renderConversation(tok, format, c.messages);
    const e = clipExample(ids, mask, seqLen);
    if (!e) {
      out.dropped++;
      continue;
    }
    if (e.ids.length < ids.length) out.clipped++;
    out.examples.push(e);
    out.supervisedTokens += supervisedCount(e);
  }
  return out;
}

/** Shuffled batches of examples, epoch after epoch; the cursor is the number of examples consumed. */
export class SftBatches extends ShuffledBatches {
  constructor(
    private readonly examples: readonly Example[],
    batchSize: number,
    seed: number,
    private readonly padId: number,
  ) {
    super(examples.length, batchSize, seed, 'an SFT');
  }

  next(): Batch {
    return padBatch(
      this.take().map((i) => this.examples[i]),
      this.padId,
    );
  }

  /** Epochs completed so far (fractional). */
  get epochs(): number {
    return this.consumed / this.examples.length;
  }
}
